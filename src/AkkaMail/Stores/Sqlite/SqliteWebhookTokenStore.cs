using AkkaMail.Providers;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// Webhook tokens seen, in the read-model database (table <c>webhook_tokens</c>), so a replayed webhook is caught
/// across restarts. A token is kept until its signature would be stale anyway (timestamp + tolerance); expired rows
/// are pruned at most once a minute, and an expired token may be used again.
/// </summary>
public sealed class SqliteWebhookTokenStore(SqliteDatabase db, TimeProvider clock) : IWebhookTokenStore
{
    public static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);
    private readonly AsyncOnce _init = new();
    private long _lastPruneTicks;

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS webhook_tokens (
                token TEXT PRIMARY KEY,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_webhook_tokens_expires_at ON webhook_tokens(expires_at);
            """, ct);
    }

    public async ValueTask<bool> TryRememberAsync(string token, DateTimeOffset expiresAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        var now = clock.GetUtcNow();
        await using var c = await db.OpenAsync(ct);
        await PruneIfDueAsync(c, now, ct);
        // A new token is inserted; a known one only replaces a row that has expired. No change = replay.
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO webhook_tokens (token, expires_at) VALUES ($token, $expires)
            ON CONFLICT(token) DO UPDATE SET expires_at = excluded.expires_at
            WHERE webhook_tokens.expires_at <= $now;
            """;
        cmd.Parameters.AddWithValue("$token", token);
        cmd.Parameters.AddWithValue("$expires", Math.Max(expiresAt.ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds()));
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async ValueTask<bool> IsKnownAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM webhook_tokens WHERE token = $token AND expires_at > $now";
        cmd.Parameters.AddWithValue("$token", token);
        cmd.Parameters.AddWithValue("$now", clock.GetUtcNow().ToUnixTimeMilliseconds());
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    public async ValueTask ForgetAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM webhook_tokens WHERE token = $token";
        cmd.Parameters.AddWithValue("$token", token);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Rows currently stored (expired or not), for tests and diagnostics.</summary>
    public async Task<long> CountAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM webhook_tokens";
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Deletes expired rows now.</summary>
    public async Task PruneAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await DeleteExpiredAsync(c, clock.GetUtcNow(), ct);
    }

    private async Task PruneIfDueAsync(SqliteConnection c, DateTimeOffset now, CancellationToken ct)
    {
        var last = Interlocked.Read(ref _lastPruneTicks);
        if (now.UtcTicks - last < PruneInterval.Ticks && now.UtcTicks >= last) return;
        if (Interlocked.CompareExchange(ref _lastPruneTicks, now.UtcTicks, last) != last) return;
        await DeleteExpiredAsync(c, now, ct);
    }

    private static async Task DeleteExpiredAsync(SqliteConnection c, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM webhook_tokens WHERE expires_at <= $now";
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

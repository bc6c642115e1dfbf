using AkkaMail.Providers;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// Webhook tokens seen, in PostgreSQL (table <c>webhook_tokens</c>), so a replayed webhook is caught across restarts
/// and across the processes sharing the database. A token is kept until its signature would be stale anyway
/// (timestamp + tolerance); expired rows are pruned at most once a minute per process, and an expired token may be
/// used again.
/// </summary>
public sealed class PostgresWebhookTokenStore(PostgresDatabase db, TimeProvider clock) : IWebhookTokenStore
{
    public static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);
    private long _lastPruneTicks;

    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public async ValueTask<bool> TryRememberAsync(string token, DateTimeOffset expiresAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        var now = clock.GetUtcNow();
        await PruneIfDueAsync(now, ct);
        // A new token is inserted; a known one only replaces a row that has expired. No change = replay.
        await using var cmd = db.Command("""
            INSERT INTO webhook_tokens (token, expires_at) VALUES (@token, @expires)
            ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at
            WHERE webhook_tokens.expires_at <= @now
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("token", token, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("expires",
            Math.Max(expiresAt.ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds()), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("now", now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async ValueTask<bool> IsKnownAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        await using var cmd = db.Command("SELECT 1 FROM webhook_tokens WHERE token = @token AND expires_at > @now");
        cmd.Parameters.Add(PostgresDatabase.Parameter("token", token, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("now", clock.GetUtcNow().ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    public async ValueTask ForgetAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        await using var cmd = db.Command("DELETE FROM webhook_tokens WHERE token = @token");
        cmd.Parameters.Add(PostgresDatabase.Parameter("token", token, NpgsqlDbType.Text));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Rows currently stored (expired or not), for tests and diagnostics.</summary>
    public async Task<long> CountAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var cmd = db.Command("SELECT COUNT(*) FROM webhook_tokens");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Deletes expired rows now.</summary>
    public async Task PruneAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await DeleteExpiredAsync(clock.GetUtcNow(), ct);
    }

    private async Task PruneIfDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        var last = Interlocked.Read(ref _lastPruneTicks);
        if (now.UtcTicks - last < PruneInterval.Ticks && now.UtcTicks >= last) return;
        if (Interlocked.CompareExchange(ref _lastPruneTicks, now.UtcTicks, last) != last) return;
        await DeleteExpiredAsync(now, ct);
    }

    private async Task DeleteExpiredAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = db.Command("DELETE FROM webhook_tokens WHERE expires_at <= @now");
        cmd.Parameters.Add(PostgresDatabase.Parameter("now", now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Suppressions;

/// <summary>An address a user's emails are no longer sent to, and why.</summary>
public sealed record Suppression(string Address, string Reason, DateTimeOffset CreatedAt, string? EmailId);

/// <summary>Per-user suppression lists: addresses that bounced for good, complained or unsubscribed.</summary>
public interface ISuppressionStore
{
    Task InitializeAsync(CancellationToken ct = default);
    /// <summary>Adds or keeps (the first reason is kept); addresses are normalized.</summary>
    Task AddAsync(string userId, Suppression suppression, CancellationToken ct = default);
    Task<Suppression?> GetAsync(string userId, string address, CancellationToken ct = default);
    Task<bool> RemoveAsync(string userId, string address, CancellationToken ct = default);
    /// <summary>Addresses in order; <paramref name="after"/> is the last address of the previous page.</summary>
    Task<IReadOnlyList<Suppression>> ListAsync(string userId, int limit, string? after, CancellationToken ct = default);
    /// <summary>Which of these addresses are suppressed for the user, with the reason.</summary>
    Task<IReadOnlyDictionary<string, string>> FindAsync(string userId, IEnumerable<string> addresses, CancellationToken ct = default);
}

public sealed class SqliteSuppressionStore(SqliteDatabase db) : ISuppressionStore
{
    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS suppressions (
                user_id TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL, created_at INTEGER NOT NULL,
                email_id TEXT NULL, PRIMARY KEY (user_id, address));
            """, ct);
    }

    public async Task AddAsync(string userId, Suppression s, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO suppressions (user_id, address, reason, created_at, email_id) VALUES ($u, $a, $r, $t, $e)
            ON CONFLICT(user_id, address) DO NOTHING
            """;
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$a", Addresses.Normalize(s.Address));
        cmd.Parameters.AddWithValue("$r", s.Reason);
        cmd.Parameters.AddWithValue("$t", s.CreatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$e", (object?)s.EmailId ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<Suppression?> GetAsync(string userId, string address, CancellationToken ct = default) =>
        (await QueryAsync("user_id = $u AND address = $a", 1, cmd =>
        {
            cmd.Parameters.AddWithValue("$u", userId);
            cmd.Parameters.AddWithValue("$a", Addresses.Normalize(address));
        }, ct)).FirstOrDefault();

    public async Task<bool> RemoveAsync(string userId, string address, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM suppressions WHERE user_id = $u AND address = $a";
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$a", Addresses.Normalize(address));
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    public Task<IReadOnlyList<Suppression>> ListAsync(string userId, int limit, string? after, CancellationToken ct = default) =>
        QueryAsync("user_id = $u AND address > $after", limit, cmd =>
        {
            cmd.Parameters.AddWithValue("$u", userId);
            cmd.Parameters.AddWithValue("$after", after ?? "");
        }, ct);

    public async Task<IReadOnlyDictionary<string, string>> FindAsync(string userId, IEnumerable<string> addresses, CancellationToken ct = default)
    {
        var wanted = addresses.Select(Addresses.Normalize).Distinct().ToList();
        var found = new Dictionary<string, string>();
        if (wanted.Count == 0) return found;
        await using var c = await db.OpenAsync(ct);
        // One statement per chunk keeps us under SQLite's parameter limit for 1,000-recipient emails.
        foreach (var chunk in wanted.Chunk(500))
        {
            await using var cmd = c.CreateCommand();
            var names = chunk.Select((_, i) => $"$a{i}").ToList();
            cmd.CommandText = $"SELECT address, reason FROM suppressions WHERE user_id = $u AND address IN ({string.Join(",", names)})";
            cmd.Parameters.AddWithValue("$u", userId);
            for (var i = 0; i < chunk.Length; i++) cmd.Parameters.AddWithValue(names[i], chunk[i]);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) found[r.GetString(0)] = r.GetString(1);
        }
        return found;
    }

    private async Task<IReadOnlyList<Suppression>> QueryAsync(string where, int limit, Action<SqliteCommand> bind, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT address, reason, created_at, email_id FROM suppressions WHERE {where} ORDER BY address LIMIT $limit";
        bind(cmd);
        cmd.Parameters.AddWithValue("$limit", limit);
        var list = new List<Suppression>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new Suppression(r.GetString(0), r.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
                r.IsDBNull(3) ? null : r.GetString(3)));
        return list;
    }
}

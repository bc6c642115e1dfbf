using System.Collections.Concurrent;
using AkkaMail.Domain;
using Microsoft.Data.Sqlite;
using AkkaMail.Suppressions;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// The embedded store. <see cref="FindAsync"/> runs for every accepted email, so each user's list is cached in
/// memory once first asked for, and accepting an email reads no table. Sound because
/// this store is the only writer of its table: the embedded database belongs to one process, and every change goes
/// through <see cref="AddAsync"/> / <see cref="RemoveAsync"/>, which update the cache under the same per-user lock
/// as the loading. (The MongoDB store, which several instances may share, has no such cache.)
/// </summary>
/// <param name="cachedAddressesPerUser">Lists longer than this are not cached: their lookups query the database.</param>
public sealed class SqliteSuppressionStore(SqliteDatabase db, int cachedAddressesPerUser = 100_000) : ISuppressionStore
{
    private readonly ConcurrentDictionary<string, CachedList> _cache = new();

    private sealed class CachedList
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        /// <summary>Null until loaded, and for a list too long to cache.</summary>
        public volatile ConcurrentDictionary<string, string>? Reasons;
        public volatile bool TooLong;
    }

    private CachedList CachedListOf(string userId) => _cache.GetOrAdd(userId, static _ => new CachedList());

    /// <summary>
    /// The suppressions (written by the read-side projection, deleted by a lift) and the lifts: a lift is kept so
    /// that replaying the journal (a projection batch handed over again, a rebuild) does not bring back a suppression
    /// the user lifted after its event.
    /// </summary>
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS suppressions (
            user_id TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL, created_at INTEGER NOT NULL,
            email_id TEXT NULL, PRIMARY KEY (user_id, address));
        CREATE TABLE IF NOT EXISTS suppression_lifts (
            user_id TEXT NOT NULL, address TEXT NOT NULL, lifted_at INTEGER NOT NULL, PRIMARY KEY (user_id, address));
        """;

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, Schema, ct);
    }

    public async Task RefreshAsync(string userId, CancellationToken ct = default)
    {
        var list = CachedListOf(userId);
        // Under the gate: a load in progress may have read the table before the projection's commit.
        await list.Gate.WaitAsync(ct);
        try
        {
            list.Reasons = null;
            list.TooLong = false;
        }
        finally { list.Gate.Release(); }
    }

    public async Task AddAsync(string userId, Suppression s, CancellationToken ct = default)
    {
        var list = CachedListOf(userId);
        await list.Gate.WaitAsync(ct);
        try
        {
            await InsertAsync(userId, s, ct);
            // The first reason stays, as in the table (ON CONFLICT DO NOTHING).
            list.Reasons?.TryAdd(Addresses.Normalize(s.Address), s.Reason);
        }
        finally { list.Gate.Release(); }
    }

    private async Task InsertAsync(string userId, Suppression s, CancellationToken ct)
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
        var normalized = Addresses.Normalize(address);
        var list = CachedListOf(userId);
        await list.Gate.WaitAsync(ct);
        try
        {
            await using var c = await db.OpenAsync(ct);
            await using var cmd = c.CreateCommand();
            await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM suppressions WHERE user_id = $u AND address = $a";
            cmd.Parameters.AddWithValue("$u", userId);
            cmd.Parameters.AddWithValue("$a", normalized);
            var removed = await cmd.ExecuteNonQueryAsync(ct) > 0;
            cmd.CommandText = """
                INSERT INTO suppression_lifts (user_id, address, lifted_at) VALUES ($u, $a, $t)
                ON CONFLICT(user_id, address) DO UPDATE SET lifted_at = excluded.lifted_at
                """;
            cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await cmd.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            list.Reasons?.TryRemove(normalized, out _);
            return removed;
        }
        finally { list.Gate.Release(); }
    }

    public async Task<int> HashAsync(string? userId, string address, CancellationToken ct = default)
    {
        var normalized = Addresses.Normalize(address);
        var scope = userId is null ? "" : " AND user_id = $u";
        var hashed = 0;
        await using (var c = await db.OpenAsync(ct))
        {
            await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
            var found = new List<(string User, string Reason, long At)>();
            await using (var select = c.CreateCommand())
            {
                select.Transaction = tx;
                select.CommandText = "SELECT user_id, reason, created_at FROM suppressions WHERE address = $a" + scope;
                select.Parameters.AddWithValue("$a", normalized);
                if (userId is not null) select.Parameters.AddWithValue("$u", userId);
                await using var r = await select.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) found.Add((r.GetString(0), r.GetString(1), r.GetInt64(2)));
            }
            foreach (var (user, reason, at) in found)
            {
                await using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT INTO suppressions (user_id, address, reason, created_at, email_id) VALUES ($u, $h, $r, $t, NULL)
                    ON CONFLICT(user_id, address) DO NOTHING;
                    DELETE FROM suppressions WHERE user_id = $u AND address = $a;
                    """;
                cmd.Parameters.AddWithValue("$u", user);
                cmd.Parameters.AddWithValue("$h", Erasure.AddressHashes.Of(user, normalized));
                cmd.Parameters.AddWithValue("$r", reason);
                cmd.Parameters.AddWithValue("$t", at);
                cmd.Parameters.AddWithValue("$a", normalized);
                await cmd.ExecuteNonQueryAsync(ct);
                hashed++;
            }
            await using (var lifts = c.CreateCommand())
            {
                lifts.Transaction = tx;
                lifts.CommandText = "DELETE FROM suppression_lifts WHERE address = $a" + scope;
                lifts.Parameters.AddWithValue("$a", normalized);
                if (userId is not null) lifts.Parameters.AddWithValue("$u", userId);
                await lifts.ExecuteNonQueryAsync(ct);
            }
            await tx.CommitAsync(ct);
        }
        // The cached lists may hold the address: loaded again on next use.
        foreach (var user in _cache.Keys) await RefreshAsync(user, ct);
        return hashed;
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
        if (await CachedReasonsAsync(userId, ct) is { } reasons)
        {
            foreach (var address in wanted)
                if (reasons.TryGetValue(address, out var reason)) found[address] = reason;
            return found;
        }
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

    /// <summary>The user's whole list, loaded on first use; null when it is too long to cache.</summary>
    private async Task<ConcurrentDictionary<string, string>?> CachedReasonsAsync(string userId, CancellationToken ct)
    {
        var list = CachedListOf(userId);
        if (list.Reasons is { } loaded) return loaded;
        if (list.TooLong) return null;
        await list.Gate.WaitAsync(ct);
        try
        {
            if (list.Reasons is null && !list.TooLong)
            {
                var reasons = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
                await using var c = await db.OpenAsync(ct);
                await using var cmd = c.CreateCommand();
                cmd.CommandText = "SELECT address, reason FROM suppressions WHERE user_id = $u LIMIT $limit";
                cmd.Parameters.AddWithValue("$u", userId);
                cmd.Parameters.AddWithValue("$limit", cachedAddressesPerUser + 1);
                await using (var r = await cmd.ExecuteReaderAsync(ct))
                    while (await r.ReadAsync(ct)) reasons[r.GetString(0)] = r.GetString(1);
                if (reasons.Count > cachedAddressesPerUser) list.TooLong = true;
                else list.Reasons = reasons;
            }
            return list.Reasons;
        }
        finally { list.Gate.Release(); }
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

using Microsoft.Data.Sqlite;
using AkkaMail.Users;

namespace AkkaMail.Stores.Sqlite;

public sealed class SqliteUserStore(SqliteDatabase db) : IUserStore
{
    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS users (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, is_admin INTEGER NOT NULL, default_from TEXT NULL,
                created_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), key_hash TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL, revoked_at INTEGER NULL);
            CREATE INDEX IF NOT EXISTS ix_api_keys_user ON api_keys (user_id, created_at);
            """, ct);
    }

    public async Task<bool> AnyUserAsync(CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM users)";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct)) == 1;
    }

    public async Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default)
    {
        var userId = "usr_" + Guid.CreateVersion7().ToString("N");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO users (id, name, is_admin, default_from, created_at) VALUES ($id, $n, $a, $f, $t)";
            cmd.Parameters.AddWithValue("$id", userId);
            cmd.Parameters.AddWithValue("$n", name);
            cmd.Parameters.AddWithValue("$a", isAdmin ? 1 : 0);
            cmd.Parameters.AddWithValue("$f", (object?)defaultFrom ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$t", now);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        var key = await InsertKeyAsync(c, tx, userId, ct);
        await tx.CommitAsync(ct);
        return new CreatedUser(userId, name, key.KeyId, key.ApiKey);
    }

    private static async Task<CreatedKey> InsertKeyAsync(SqliteConnection c, SqliteTransaction? tx, string userId, CancellationToken ct)
    {
        var keyId = "key_" + Guid.CreateVersion7().ToString("N");
        var key = ApiKeys.NewKey();
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES ($id, $u, $h, $t)";
        cmd.Parameters.AddWithValue("$id", keyId);
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$h", ApiKeys.Hash(key));
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
        return new CreatedKey(userId, keyId, key);
    }

    public async Task<UserIdentity?> GetUserAsync(string userId, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, name, is_admin, default_from FROM users WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", userId);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new UserIdentity(r.GetString(0), r.GetString(1), r.GetInt64(2) == 1, r.IsDBNull(3) ? null : r.GetString(3));
    }

    public async Task<CreatedKey?> CreateKeyAsync(string userId, CancellationToken ct = default)
    {
        if (await GetUserAsync(userId, ct) is null) return null;
        await using var c = await db.OpenAsync(ct);
        return await InsertKeyAsync(c, null, userId, ct);
    }

    public async Task<bool> RevokeKeyAsync(string userId, string keyId, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE api_keys SET revoked_at = $t WHERE id = $k AND user_id = $u AND revoked_at IS NULL";
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$k", keyId);
        cmd.Parameters.AddWithValue("$u", userId);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string userId, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, created_at, revoked_at FROM api_keys WHERE user_id = $u ORDER BY created_at";
        cmd.Parameters.AddWithValue("$u", userId);
        var keys = new List<ApiKeyInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            keys.Add(new ApiKeyInfo(r.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
                r.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))));
        return keys;
    }

    public async Task<IReadOnlyList<UserSummary>> ListUsersAsync(int limit, string? afterId, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        // Ids compare with SQLite's BINARY collation: ordinal, like the other stores, so a cursor means the same everywhere.
        cmd.CommandText = $"""
            SELECT u.id, u.name, u.is_admin, u.default_from, u.created_at,
                   (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
            FROM users u {(afterId is null ? "" : "WHERE u.id > $after")} ORDER BY u.id LIMIT $n
            """;
        if (afterId is not null) cmd.Parameters.AddWithValue("$after", afterId);
        cmd.Parameters.AddWithValue("$n", limit);
        var users = new List<UserSummary>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            users.Add(new UserSummary(r.GetString(0), r.GetString(1), r.GetInt64(2) == 1, r.IsDBNull(3) ? null : r.GetString(3),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), (int)r.GetInt64(5)));
        return users;
    }

    public async Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default)
    {
        // Looked up by hash: the database compares hashes, never keys, so no timing leaks the key itself.
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT u.id, u.name, u.is_admin, u.default_from, k.id FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_hash = $h AND k.revoked_at IS NULL
            """;
        cmd.Parameters.AddWithValue("$h", ApiKeys.Hash(apiKey));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new UserIdentity(r.GetString(0), r.GetString(1), r.GetInt64(2) == 1, r.IsDBNull(3) ? null : r.GetString(3))
        {
            KeyId = r.GetString(4),
        };
    }
}

using AkkaMail.Users;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>Users and their API keys (stored only as hashes) in PostgreSQL.</summary>
public sealed class PostgresUserStore(PostgresDatabase db) : IUserStore
{
    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public async Task<bool> AnyUserAsync(CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT EXISTS (SELECT 1 FROM users)");
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    public async Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default)
    {
        var userId = "usr_" + Guid.CreateVersion7().ToString("N");
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand("INSERT INTO users (id, name, is_admin, default_from, created_at) VALUES (@id, @n, @a, @f, @t)", c, tx))
        {
            cmd.Parameters.Add(PostgresDatabase.Parameter("id", userId, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("n", name, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("a", isAdmin, NpgsqlDbType.Boolean));
            cmd.Parameters.Add(PostgresDatabase.Parameter("f", defaultFrom, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        var key = await InsertKeyAsync(c, tx, userId, ct);
        await tx.CommitAsync(ct);
        return new CreatedUser(userId, name, key.KeyId, key.ApiKey);
    }

    private static async Task<CreatedKey> InsertKeyAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string userId, CancellationToken ct)
    {
        var keyId = "key_" + Guid.CreateVersion7().ToString("N");
        var key = ApiKeys.NewKey();
        await using var cmd = new NpgsqlCommand("INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES (@id, @u, @h, @t)", c, tx);
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", keyId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("h", ApiKeys.Hash(key), NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        await cmd.ExecuteNonQueryAsync(ct);
        return new CreatedKey(userId, keyId, key);
    }

    public async Task<UserIdentity?> GetUserAsync(string userId, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT id, name, is_admin, default_from FROM users WHERE id = @id");
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", userId, NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new UserIdentity(r.GetString(0), r.GetString(1), r.GetBoolean(2), r.IsDBNull(3) ? null : r.GetString(3));
    }

    public async Task<CreatedKey?> CreateKeyAsync(string userId, CancellationToken ct = default)
    {
        if (await GetUserAsync(userId, ct) is null) return null;
        await using var c = await db.OpenAsync(ct);
        return await InsertKeyAsync(c, null, userId, ct);
    }

    public async Task<bool> RevokeKeyAsync(string userId, string keyId, CancellationToken ct = default)
    {
        await using var cmd = db.Command("UPDATE api_keys SET revoked_at = @t WHERE id = @k AND user_id = @u AND revoked_at IS NULL");
        cmd.Parameters.Add(PostgresDatabase.Parameter("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("k", keyId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string userId, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT id, created_at, revoked_at FROM api_keys WHERE user_id = @u ORDER BY created_at, id");
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
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
        // users.id is COLLATE "C": ordinal order, like the other stores, so a cursor means the same everywhere.
        await using var cmd = db.Command($"""
            SELECT u.id, u.name, u.is_admin, u.default_from, u.created_at,
                   (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
            FROM users u {(afterId is null ? "" : "WHERE u.id > @after")} ORDER BY u.id LIMIT @n
            """);
        if (afterId is not null) cmd.Parameters.Add(PostgresDatabase.Parameter("after", afterId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("n", limit, NpgsqlDbType.Integer));
        var users = new List<UserSummary>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            users.Add(new UserSummary(r.GetString(0), r.GetString(1), r.GetBoolean(2), r.IsDBNull(3) ? null : r.GetString(3),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), (int)r.GetInt64(5)));
        return users;
    }

    public async Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default)
    {
        // Looked up by hash: the database compares hashes, never keys, so no timing leaks the key itself.
        await using var cmd = db.Command("""
            SELECT u.id, u.name, u.is_admin, u.default_from, k.id FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_hash = @h AND k.revoked_at IS NULL
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("h", ApiKeys.Hash(apiKey), NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new UserIdentity(r.GetString(0), r.GetString(1), r.GetBoolean(2), r.IsDBNull(3) ? null : r.GetString(3))
        {
            KeyId = r.GetString(4),
        };
    }
}

using System.Security.Cryptography;
using System.Text;
using AkkaMail.ReadModel;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Users;

public sealed record UserIdentity(string UserId, string Name, bool IsAdmin, string? DefaultFrom);

public sealed record CreatedUser(string UserId, string Name, string KeyId, string ApiKey);

/// <summary>Users and their API keys. Keys are stored only as hashes.</summary>
public interface IUserStore
{
    Task InitializeAsync(CancellationToken ct = default);
    Task<bool> AnyUserAsync(CancellationToken ct = default);
    Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default);
    Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default);
}

public static class ApiKeys
{
    public const string Prefix = "am_";

    /// <summary>256 random bits, URL-safe. Unguessable, so a fast hash (SHA-256) is enough to store it:
    /// key stretching protects low-entropy passwords, not random keys.</summary>
    public static string NewKey() =>
        Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

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
        var keyId = "key_" + Guid.CreateVersion7().ToString("N");
        var key = ApiKeys.NewKey();
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
        await using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES ($id, $u, $h, $t)";
            cmd.Parameters.AddWithValue("$id", keyId);
            cmd.Parameters.AddWithValue("$u", userId);
            cmd.Parameters.AddWithValue("$h", ApiKeys.Hash(key));
            cmd.Parameters.AddWithValue("$t", now);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new CreatedUser(userId, name, keyId, key);
    }

    public async Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default)
    {
        // Looked up by hash: the database compares hashes, never keys, so no timing leaks the key itself.
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT u.id, u.name, u.is_admin, u.default_from FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_hash = $h AND k.revoked_at IS NULL
            """;
        cmd.Parameters.AddWithValue("$h", ApiKeys.Hash(apiKey));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new UserIdentity(r.GetString(0), r.GetString(1), r.GetInt64(2) == 1, r.IsDBNull(3) ? null : r.GetString(3));
    }
}

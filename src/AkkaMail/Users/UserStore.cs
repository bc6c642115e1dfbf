using System.Security.Cryptography;
using System.Text;

namespace AkkaMail.Users;

public sealed record UserIdentity(string UserId, string Name, bool IsAdmin, string? DefaultFrom)
{
    /// <summary>The key that authenticated the caller (set by <see cref="IUserStore.AuthenticateAsync"/>; null from
    /// <see cref="IUserStore.GetUserAsync"/>): what a revocation names, so the connections it opened can be ended.</summary>
    public string? KeyId { get; init; }
}

public sealed record CreatedUser(string UserId, string Name, string KeyId, string ApiKey);

public sealed record CreatedKey(string UserId, string KeyId, string ApiKey);

public sealed record ApiKeyInfo(string KeyId, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>One user as the admin's list shows it: never a key or its hash, only how many unrevoked keys it has.</summary>
public sealed record UserSummary(string UserId, string Name, bool IsAdmin, string? DefaultFrom, DateTimeOffset CreatedAt, int ActiveKeys);

/// <summary>Users and their API keys. Keys are stored only as hashes.</summary>
public interface IUserStore
{
    Task InitializeAsync(CancellationToken ct = default);
    Task<bool> AnyUserAsync(CancellationToken ct = default);
    Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default);
    /// <summary>The user of an unrevoked key, with <see cref="UserIdentity.KeyId"/> set; null for any other string.</summary>
    Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default);
    Task<UserIdentity?> GetUserAsync(string userId, CancellationToken ct = default);
    /// <summary>A new key for an existing user; null when there is no such user.</summary>
    Task<CreatedKey?> CreateKeyAsync(string userId, CancellationToken ct = default);
    /// <summary>Revokes at once; false when the user has no such (unrevoked) key.</summary>
    Task<bool> RevokeKeyAsync(string userId, string keyId, CancellationToken ct = default);
    Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string userId, CancellationToken ct = default);
    /// <summary>At most <paramref name="limit"/> users ordered by id (ordinal), those after <paramref name="afterId"/>
    /// when given: the last id of a page is the cursor of the next, so a user created meanwhile is never shown twice.</summary>
    Task<IReadOnlyList<UserSummary>> ListUsersAsync(int limit, string? afterId, CancellationToken ct = default);
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

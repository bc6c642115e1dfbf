using System.Collections.Concurrent;

namespace AkkaMail.Users;

/// <summary>
/// Remembers successful key lookups for a short while, so a busy client does not cost a database round trip per
/// request. Revoking a key through this store forgets its user's entries at once (single node; with several nodes,
/// a revoked key lives at most <see cref="Ttl"/> on the others). Unknown keys are never cached.
/// </summary>
public sealed class CachingUserStore(IUserStore inner, TimeProvider clock) : IUserStore
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (UserIdentity User, DateTimeOffset Until)> _byKeyHash = new();

    /// <summary>The store it caches for.</summary>
    public IUserStore Inner => inner;

    public async Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default)
    {
        var hash = ApiKeys.Hash(apiKey);
        var now = clock.GetUtcNow();
        if (_byKeyHash.TryGetValue(hash, out var hit) && hit.Until > now) return hit.User;
        var user = await inner.AuthenticateAsync(apiKey, ct);
        if (user is null) return null;
        if (_byKeyHash.Count >= MaxEntries) _byKeyHash.Clear();
        _byKeyHash[hash] = (user, now + Ttl);
        return user;
    }

    public async Task<bool> RevokeKeyAsync(string userId, string keyId, CancellationToken ct = default)
    {
        var revoked = await inner.RevokeKeyAsync(userId, keyId, ct);
        // We know the key's id, not its hash: forget every cached key of that user.
        foreach (var entry in _byKeyHash.Where(e => e.Value.User.UserId == userId).ToList())
            _byKeyHash.TryRemove(entry.Key, out _);
        return revoked;
    }

    public Task InitializeAsync(CancellationToken ct = default) => inner.InitializeAsync(ct);
    public Task<bool> AnyUserAsync(CancellationToken ct = default) => inner.AnyUserAsync(ct);
    public Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default) =>
        inner.CreateUserAsync(name, isAdmin, defaultFrom, ct);
    public Task<UserIdentity?> GetUserAsync(string userId, CancellationToken ct = default) => inner.GetUserAsync(userId, ct);
    public Task<CreatedKey?> CreateKeyAsync(string userId, CancellationToken ct = default) => inner.CreateKeyAsync(userId, ct);
    public Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string userId, CancellationToken ct = default) => inner.ListKeysAsync(userId, ct);
    public Task<IReadOnlyList<UserSummary>> ListUsersAsync(int limit, string? afterId, CancellationToken ct = default) =>
        inner.ListUsersAsync(limit, afterId, ct);
}

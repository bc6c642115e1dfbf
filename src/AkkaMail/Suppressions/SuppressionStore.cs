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
    /// <summary>The read-side projection added suppressions of this user behind the store's back (same database,
    /// its own transaction): forget anything cached about the user.</summary>
    Task RefreshAsync(string userId, CancellationToken ct = default) => Task.CompletedTask;
    /// <summary>Erasure: every suppression of <paramref name="address"/> (of <paramref name="userId"/>, or of every user
    /// when null) is replaced by one of its hash (<see cref="Erasure.AddressHashes.Of"/>), keeping reason and time and
    /// dropping the email id; the lifts of the address go. Answers how many were hashed.</summary>
    Task<int> HashAsync(string? userId, string address, CancellationToken ct = default);
}

/// <summary>The send path's look-up: an address is suppressed if it is on the list, or its hash is (it was erased).</summary>
public static class SuppressionLookup
{
    /// <summary>Which of <paramref name="addresses"/> are suppressed for the user (normalized address → reason).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> FindSuppressedAsync(
        this ISuppressionStore store, string userId, IEnumerable<string> addresses, CancellationToken ct = default)
    {
        var wanted = addresses.Select(Domain.Addresses.Normalize).Distinct().ToList();
        if (wanted.Count == 0) return new Dictionary<string, string>();
        var byHash = wanted.ToDictionary(a => Erasure.AddressHashes.Of(userId, a));
        var found = await store.FindAsync(userId, wanted.Concat(byHash.Keys), ct);
        var suppressed = new Dictionary<string, string>();
        foreach (var (address, reason) in found)
            suppressed.TryAdd(byHash.TryGetValue(address, out var erased) ? erased : address, reason);
        return suppressed;
    }
}

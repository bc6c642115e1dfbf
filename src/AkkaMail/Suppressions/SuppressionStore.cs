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
}

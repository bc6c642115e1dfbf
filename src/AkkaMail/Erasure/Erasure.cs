using System.Security.Cryptography;
using System.Text;
using AkkaMail.Domain;

namespace AkkaMail.Erasure;

/// <summary>
/// One erasure request (<c>POST /api/erasure</c>). It never holds the address: only its hash (per requester scope),
/// the ids of the emails found for it and how far their removal got, so the record itself leaves no trace of the address.
/// </summary>
/// <param name="UserId">Whose emails: a user's own, or null for every user's (an admin request).</param>
/// <param name="RequestedBy">The caller (a user id, or the admin's).</param>
/// <param name="Pending">Emails found and not yet removed (unsettled ones wait until they settle).</param>
/// <param name="Found">Emails found at the request; <paramref name="Erased"/> of them removed so far.</param>
public sealed record ErasureRecord(
    string Id, string? UserId, string RequestedBy, string AddressHash, DateTimeOffset RequestedAt,
    int Found, int Erased, IReadOnlyList<string> Pending, int SuppressionsHashed, DateTimeOffset? CompletedAt)
{
    public bool IsCompleted => CompletedAt is not null;
    public string Status => IsCompleted ? "completed" : "pending";
}

/// <summary>The durable erasure records: SQLite, MongoDB or PostgreSQL, with the other stores.</summary>
public interface IErasureStore
{
    Task InitializeAsync(CancellationToken ct = default);
    /// <summary>Stores a new record or replaces the one with its id (progress).</summary>
    Task SaveAsync(ErasureRecord record, CancellationToken ct = default);
    Task<ErasureRecord?> GetAsync(string id, CancellationToken ct = default);
    /// <summary>Records not completed, oldest first: what the worker resumes after a restart.</summary>
    Task<IReadOnlyList<ErasureRecord>> ListPendingAsync(int limit, CancellationToken ct = default);
}

/// <summary>How an erased address is remembered where it must be (suppressions): a hash, never the address.</summary>
public static class AddressHashes
{
    /// <summary>The prefix of a hashed suppression's address: it cannot start a real address (no ':' before an '@').</summary>
    public const string Prefix = "sha256:";

    /// <summary>SHA-256 of "<paramref name="userId"/> LF normalized address", hex: per user, so equal addresses of two
    /// users do not hash alike (one user's list says nothing of another's).</summary>
    public static string Of(string userId, string address) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(userId + "\n" + Addresses.Normalize(address))));

    public static bool IsHash(string address) => address.StartsWith(Prefix, StringComparison.Ordinal);
}

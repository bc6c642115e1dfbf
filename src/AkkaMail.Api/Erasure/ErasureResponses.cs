using AkkaMail.Erasure;

namespace AkkaMail.Api.Erasure;

/// <summary>The body of POST /api/erasure: the address whose emails go; <c>userId</c> (the admin only) limits it to one
/// user's emails, else the admin's request covers every user's and a user's their own.</summary>
public sealed record ErasureRequest(string? Address, string? UserId);

/// <summary>An erasure request and its progress. It names no address (the record keeps none): emails found at the
/// request, erased so far, and pending (not yet settled: cancelled, removed once their send ended); suppressions of the
/// address now kept as its hash. <c>status</c>: <c>pending</c> or <c>completed</c>.</summary>
public sealed record ErasureResponse(
    string Id, string Status, string? UserId, DateTimeOffset RequestedAt, DateTimeOffset? CompletedAt,
    int EmailsFound, int EmailsErased, int EmailsPending, int SuppressionsHashed)
{
    public static ErasureResponse Of(ErasureRecord r) => new(
        r.Id, r.Status, r.UserId, r.RequestedAt, r.CompletedAt, r.Found, r.Erased, r.Pending.Count, r.SuppressionsHashed);
}

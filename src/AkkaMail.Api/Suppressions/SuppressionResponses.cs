using AkkaMail.Suppressions;

namespace AkkaMail.Api.Suppressions;

/// <summary>An address the caller's emails are no longer sent to: why (<c>bounce (…)</c>, <c>complaint</c>,
/// <c>unsubscribe</c>), since when, and the email whose event added it.</summary>
public sealed record SuppressionResponse(string Address, string Reason, DateTimeOffset CreatedAt, string? EmailId)
{
    public static SuppressionResponse Of(Suppression s) => new(s.Address, s.Reason, s.CreatedAt, s.EmailId);
}

/// <summary>A page of GET /api/suppressions, by address; <c>nextCursor</c> fetches the next page (null on the last).</summary>
public sealed record SuppressionListResponse(IReadOnlyList<SuppressionResponse> Items, string? NextCursor);

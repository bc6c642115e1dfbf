namespace AkkaMail.Domain;

/// <summary>What the provider tells us happened to one recipient of a message (provider-neutral).</summary>
public enum ProviderEventKind
{
    Accepted,
    Delivered,
    TemporaryFailure,
    PermanentFailure,
    Opened,
    Clicked,
    Unsubscribed,
    Complained,
}

/// <param name="EventId">The provider's id of the event; events are deduplicated by it within an email.</param>
/// <param name="OccurredAt">When the provider says it happened (not when we heard of it).</param>
/// <param name="Provider">The provider that reported it (<c>mailgun</c>, <c>smtp</c>…); null in journals written before
/// it was recorded. An event is applied only to an email sent through its provider.</param>
public sealed record ProviderEvent(
    string EventId,
    ProviderEventKind Kind,
    string Recipient,
    DateTimeOffset OccurredAt,
    string? ProviderMessageId = null,
    string? Reason = null,
    int? Code = null,
    string? Description = null,
    string? Url = null,
    string? Provider = null);

public static class ProviderEventKindNames
{
    public static string ToWire(this ProviderEventKind k) => k switch
    {
        ProviderEventKind.TemporaryFailure => "temporary_failure",
        ProviderEventKind.PermanentFailure => "permanent_failure",
        _ => k.ToString().ToLowerInvariant(),
    };
}

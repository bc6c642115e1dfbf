using AkkaMail.Domain;
using AkkaMail.Providers;

namespace AkkaMail.Mailgun.Provider;

/// <summary>Turns a Mailgun event into our provider-neutral <see cref="ProviderEvent"/>.</summary>
public static class MailgunEventMapper
{
    public abstract record Mapping
    {
        private Mapping() { }
        /// <param name="EmailId">Our id from <c>user-variables.email-id</c>, when usable; else null (find by message id).</param>
        public sealed record Tracked(string? EmailId, ProviderEvent Event) : Mapping;
        /// <summary>An event type we do not track (stored, unknown types): answered 200 and logged.</summary>
        public sealed record Untracked(string Reason) : Mapping;
        /// <summary>A tracked event type that lacks what we need (recipient): answered 406.</summary>
        public sealed record Unusable(string Reason) : Mapping;
    }

    /// <summary>Our ids are 32 hex characters; anything longer than this is not one of ours.</summary>
    public const int MaxEmailIdLength = 64;

    public static Mapping Map(MailgunEvent e)
    {
        ProviderEventKind? kind = e.Type switch
        {
            MailgunEventType.Accepted => ProviderEventKind.Accepted,
            MailgunEventType.Delivered => ProviderEventKind.Delivered,
            // A failure without a recognisable severity is not taken as final: it cannot undo a delivery.
            MailgunEventType.Failed => e.Severity == MailgunSeverity.Permanent ? ProviderEventKind.PermanentFailure : ProviderEventKind.TemporaryFailure,
            MailgunEventType.Rejected => ProviderEventKind.PermanentFailure,
            MailgunEventType.Opened => ProviderEventKind.Opened,
            MailgunEventType.Clicked => ProviderEventKind.Clicked,
            MailgunEventType.Unsubscribed => ProviderEventKind.Unsubscribed,
            MailgunEventType.Complained => ProviderEventKind.Complained,
            _ => null,
        };
        if (kind is not { } k) return new Mapping.Untracked($"event type '{Truncate(e.EventType, 64)}' is not tracked");
        if (string.IsNullOrWhiteSpace(e.Recipient)) return new Mapping.Unusable("'event-data.recipient' is missing");

        var ds = e.DeliveryStatus;
        var description = NullIfBlank(ds?.Description) ?? NullIfBlank(ds?.Message);
        var reason = e.Reason ?? (e.Type == MailgunEventType.Rejected ? "rejected" : null);
        var evt = new ProviderEvent(
            EventId: e.Id,
            Kind: k,
            Recipient: e.Recipient,
            OccurredAt: e.Timestamp,
            ProviderMessageId: NullIfBlank(e.MessageId),
            Reason: k is ProviderEventKind.TemporaryFailure or ProviderEventKind.PermanentFailure ? reason : null,
            Code: ds?.Code,
            Description: description is null ? null : Truncate(description, 1000),
            Url: k == ProviderEventKind.Clicked ? e.Url : null,
            Provider: MailgunProvider.ProviderName);
        return new Mapping.Tracked(EmailIdOf(e), evt);
    }

    private static string? EmailIdOf(MailgunEvent e) =>
        e.UserVariables.TryGetValue(MailgunProvider.EmailIdVariable, out var id) && !string.IsNullOrWhiteSpace(id) && id.Length <= MaxEmailIdLength
            ? id
            : null;

    private static string? NullIfBlank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";
}

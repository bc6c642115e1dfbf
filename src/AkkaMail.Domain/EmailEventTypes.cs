using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Domain;

/// <summary>
/// The one table of event-type names clients see: the timeline of <c>GET /api/emails/{id}</c> (and <c>/events</c>) and
/// the <c>eventType</c> of every real-time message. Both take their names from here, so they cannot drift apart.
/// Our own steps have plain names; the provider's reports have the provider-neutral kind names, except the provider's
/// acceptance, which is <see cref="AcceptedByProvider"/> so that it never reads like our <see cref="Accepted"/>.
/// </summary>
public static class EmailEventTypes
{
    public const string Accepted = "accepted";
    public const string Scheduled = "scheduled";
    public const string Dispatched = "dispatched";
    public const string Sending = "sending";
    public const string Sent = "sent";
    public const string RetryScheduled = "retry_scheduled";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string AcceptedByProvider = "accepted_by_provider";
    /// <summary>The provider's retention passed with no final report for a recipient (one step per such recipient).</summary>
    public const string NoReportFromProvider = "no_report_from_provider";

    /// <summary>Every name an event can have: our steps, then the provider's reports.</summary>
    public static readonly IReadOnlyList<string> All =
        new[] { Accepted, Scheduled, Dispatched, Sending, Sent, RetryScheduled, Failed, Cancelled }
            .Concat(Enum.GetValues<ProviderEventKind>().Select(Of)).Append(NoReportFromProvider).ToArray();

    /// <summary>The name of a persisted event.</summary>
    public static string Of(IEmailEvent evt) => evt switch
    {
        EmailAccepted a => a.SendAt is null ? Accepted : Scheduled,
        EmailDispatched => Dispatched,
        SendAttemptStarted => Sending,
        EmailSent => Sent,
        SendRetryScheduled => RetryScheduled,
        EmailSendFailed => Failed,
        EmailCancelled => Cancelled,
        ProviderEventRecorded p => Of(p.Event.Kind),
        ProviderReportMissing => NoReportFromProvider,
        _ => throw new ArgumentOutOfRangeException(nameof(evt), evt.GetType().Name, "unknown event"),
    };

    /// <summary>The name of a provider's report about a recipient.</summary>
    public static string Of(ProviderEventKind kind) => kind == ProviderEventKind.Accepted ? AcceptedByProvider : kind.ToWire();

    /// <summary>
    /// A name as stored before this table: timelines in snapshots and stored read-model views named the provider's
    /// acceptance <c>accepted</c>, like ours. Only the provider's concerns a recipient, which tells them apart.
    /// </summary>
    public static string Current(string type, string? recipient) =>
        type == Accepted && recipient is not null ? AcceptedByProvider : type;
}

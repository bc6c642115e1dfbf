using AkkaMail.Actors;
using AkkaMail.Domain;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Api.Realtime;

/// <summary>
/// What every real-time client receives (SignalR message <c>emailStatus</c>, SSE event <c>emailStatus</c>):
/// the email's status after a persisted change, the change's type (named from <see cref="EmailEventTypes"/>, the table
/// the timeline of GET /api/emails/{id} is named from too), the recipient it concerns if any, and when it happened. <paramref name="Version"/>
/// is the email's version after the change (the read model's <c>version</c>): a client that also reads the REST
/// API keeps the higher one and ignores repeats.
/// </summary>
public sealed record EmailStatusMessage(
    string EmailId, string Status, string EventType, string? Recipient, DateTimeOffset At, long Version)
{
    public const string MethodName = "emailStatus";

    public static EmailStatusMessage From(PipelineMessages.EmailChanged changed) => new(
        changed.EmailId,
        changed.Status,
        EmailEventTypes.Of(changed.Event),
        changed.Event is ProviderEventRecorded p ? Addresses.Normalize(p.Event.Recipient) : null,
        changed.Event.At,
        changed.Version);
}

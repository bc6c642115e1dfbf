using Akka.Actor;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Sending;

namespace AkkaMail.Actors;

/// <summary>Messages between our actors (not part of the email protocol).</summary>
public static class PipelineMessages
{
    /// <summary>Put a job on the send queue after <paramref name="Delay"/>.</summary>
    public sealed record DispatchJob(SendJob Job, TimeSpan Delay);

    /// <summary>Write a view to the read model; tell <paramref name="ReplyTo"/> <paramref name="Reply"/> once stored.</summary>
    public sealed record UpsertView(EmailView View, IActorRef? ReplyTo = null, object? Reply = null);

    /// <summary>
    /// Published on the event stream after an email's change is persisted (feeds real-time clients). A provider
    /// event goes out as the subtype <see cref="EmailProviderEventChanged"/>: the event stream sends it to the
    /// subscribers of either type, and a listener for provider events alone (suppressions) is not sent every change.
    /// </summary>
    public record EmailChanged(string EmailId, string UserId, string Status, IEmailEvent Event, long Version) : IWithEmailId
    {
        public static EmailChanged Of(string emailId, string userId, string status, IEmailEvent evt, long version) =>
            evt is EmailEvents.ProviderEventRecorded
                ? new EmailProviderEventChanged(emailId, userId, status, evt, version)
                : new EmailChanged(emailId, userId, status, evt, version);
    }

    /// <inheritdoc cref="EmailChanged"/>
    public sealed record EmailProviderEventChanged(string EmailId, string UserId, string Status, IEmailEvent Event, long Version)
        : EmailChanged(EmailId, UserId, Status, Event, Version);

    public sealed record SweepNow(TimeSpan PickupTimeout, DateTimeOffset? LostIfDispatchedBefore = null);
}

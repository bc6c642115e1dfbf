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

    /// <summary>Published on the event stream after an email's change is persisted (feeds real-time clients).</summary>
    public sealed record EmailChanged(string EmailId, string UserId, string Status, IEmailEvent Event, long Version) : IWithEmailId;

    public sealed record SweepNow(TimeSpan PickupTimeout, DateTimeOffset? LostIfDispatchedBefore = null);
}

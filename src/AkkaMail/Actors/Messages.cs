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

    /// <summary>Published on the event stream after an email's change is persisted (feeds real-time clients).</summary>
    public sealed record EmailChanged(string EmailId, string UserId, string Status, IEmailEvent Event, long Version) : IWithEmailId
    {
        public static EmailChanged Of(string emailId, string userId, string status, IEmailEvent evt, long version) =>
            new(emailId, userId, status, evt, version);
    }

    public sealed record SweepNow(TimeSpan PickupTimeout, DateTimeOffset? LostIfDispatchedBefore = null);
}

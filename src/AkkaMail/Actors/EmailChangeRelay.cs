using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Actors;

/// <summary>
/// Cluster mode: an email's actor announces its changes on its own node's event stream, but the clients watching it
/// (SignalR, server-sent events) may be connected to any node. One relay per node forwards the local announcements to
/// a DistributedPubSub topic that every node's subscribers listen to, so each sees every change exactly once.
/// </summary>
public sealed class EmailChangeRelay : ReceiveActor
{
    public const string Name = "email-change-relay";
    public const string Topic = "akkamail-email-changes";

    private readonly IActorRef _mediator = DistributedPubSub.Get(Context.System).Mediator;

    public EmailChangeRelay() => Receive<EmailChanged>(changed => _mediator.Tell(new Publish(Topic, changed)));

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(EmailChanged));

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    /// <summary>Subscribes <paramref name="subscriber"/> to every email's changes: the cluster's topic in cluster mode
    /// (where a relay runs on each node), else the local event stream.</summary>
    public static void SubscribeToChanges(ActorSystem system, IActorRef subscriber, bool clusterMode)
    {
        if (clusterMode) DistributedPubSub.Get(system).Mediator.Tell(new Subscribe(Topic, subscriber));
        else system.EventStream.Subscribe(subscriber, typeof(EmailChanged));
    }

    /// <summary>Undoes <see cref="SubscribeToChanges"/>.</summary>
    public static void UnsubscribeFromChanges(ActorSystem system, IActorRef subscriber, bool clusterMode)
    {
        if (clusterMode) DistributedPubSub.Get(system).Mediator.Tell(new Unsubscribe(Topic, subscriber));
        else system.EventStream.Unsubscribe(subscriber);
    }
}

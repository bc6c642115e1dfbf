using Akka.Actor;
using Akka.Event;
using AkkaMail.Actors;
using Microsoft.AspNetCore.SignalR;

namespace AkkaMail.Api.Realtime;

/// <summary>
/// The Akka side of real-time status: subscribed to <see cref="PipelineMessages.EmailChanged"/> on the event stream
/// (published by each email actor after its change is persisted), it pushes an <c>emailStatus</c> message to the
/// SignalR groups of the email and of its owner, and to the server-sent-event streams. One message at a time, so
/// that every client sees an email's changes in the order they were persisted; a push that takes longer than
/// <see cref="PushTimeout"/> (a stuck connection) is abandoned rather than holding up the others.
/// On several nodes, each node runs one of these fed by distributed pub-sub (or a SignalR backplane).
/// </summary>
public sealed class StatusBroadcasterActor : ReceiveActor, IWithUnboundedStash
{
    public const string Name = "status-broadcaster";
    public static readonly TimeSpan PushTimeout = TimeSpan.FromSeconds(5);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IHubContext<EmailHub> _hub;
    private readonly EmailStatusFeed _feed;
    private readonly bool _clusterMode;

    public IStash Stash { get; set; } = null!;

    private sealed record PushDone(PipelineMessages.EmailChanged Changed, Exception? Error);

    /// <param name="clusterMode">Listen to every node's changes (the cluster's topic), not only this node's.</param>
    public StatusBroadcasterActor(IHubContext<EmailHub> hub, EmailStatusFeed feed, bool clusterMode = false)
    {
        _hub = hub;
        _feed = feed;
        _clusterMode = clusterMode;
        Become(Idle);
    }

    /// <summary>
    /// Pushes one change. With no watcher (or fast ones) SignalR's send completes at once and the next change goes
    /// right after; only a pending send switches to <see cref="Pushing"/>, which holds later changes back (order).
    /// </summary>
    private void Idle()
    {
        Receive<Akka.Cluster.Tools.PublishSubscribe.SubscribeAck>(_ => { });
        Receive<PipelineMessages.EmailChanged>(changed =>
        {
            var message = EmailStatusMessage.From(changed);
            _feed.Publish(changed.UserId, message);
            var cts = new CancellationTokenSource();
            Task push;
            try
            {
                push = _hub.Clients.Groups(EmailHub.EmailGroup(changed.EmailId), EmailHub.UserGroup(changed.UserId))
                    .SendAsync(EmailStatusMessage.MethodName, message, cts.Token);
            }
            catch (Exception ex)
            {
                push = Task.FromException(ex);
            }
            if (push.IsCompleted)
            {
                cts.Dispose();
                if (push.Exception is { } failed) LogFailure(changed, failed.GetBaseException());
                return;
            }
            cts.CancelAfter(PushTimeout);
            push.ContinueWith(t =>
            {
                cts.Dispose();
                return new PushDone(changed, t.Exception?.GetBaseException() ?? (t.IsCanceled ? new OperationCanceledException() : null));
            }, TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
            Become(Pushing);
        });
    }

    private void Pushing()
    {
        Receive<PushDone>(done =>
        {
            if (done.Error is not null) LogFailure(done.Changed, done.Error);
            Stash.UnstashAll();
            Become(Idle);
        });
        ReceiveAny(_ => Stash.Stash());
    }

    private void LogFailure(PipelineMessages.EmailChanged changed, Exception ex) =>
        _log.Warning(ex, "Email {EmailId}: could not push status {Status} to its watchers", changed.EmailId, changed.Status);

    protected override void PreStart() => EmailChangeRelay.SubscribeToChanges(Context.System, Self, _clusterMode);

    protected override void PostStop() => EmailChangeRelay.UnsubscribeFromChanges(Context.System, Self, _clusterMode);
}

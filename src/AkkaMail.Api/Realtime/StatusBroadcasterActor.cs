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
public sealed class StatusBroadcasterActor : ReceiveActor
{
    public const string Name = "status-broadcaster";
    public static readonly TimeSpan PushTimeout = TimeSpan.FromSeconds(5);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public StatusBroadcasterActor(IHubContext<EmailHub> hub, EmailStatusFeed feed)
    {
        ReceiveAsync<PipelineMessages.EmailChanged>(async changed =>
        {
            var message = EmailStatusMessage.From(changed);
            feed.Publish(changed.UserId, message);
            using var cts = new CancellationTokenSource(PushTimeout);
            try
            {
                await hub.Clients.Groups(EmailHub.EmailGroup(changed.EmailId), EmailHub.UserGroup(changed.UserId))
                    .SendAsync(EmailStatusMessage.MethodName, message, cts.Token);
            }
            catch (Exception ex)
            {
                _log.Warning(ex, "Email {EmailId}: could not push status {Status} to its watchers", changed.EmailId, changed.Status);
            }
        });
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(PipelineMessages.EmailChanged));

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}

using Akka.Actor;
using Akka.Event;
using AkkaMail.Domain;

namespace AkkaMail.Actors;

/// <summary>Sent by an idle child to its parent: stop me with this message, and hold my mail meanwhile.</summary>
public sealed record Passivate(object StopMessage);

/// <summary>
/// Parent of every email actor: routes each <see cref="IWithEmailId"/> message to the child <c>email-{id}</c>,
/// creating it on demand. Idle children passivate; what arrives for them while they stop is buffered and
/// delivered to their next incarnation, so nothing is lost. (Shaped like a sharding region on purpose.)
/// </summary>
public sealed class EmailManagerActor : ReceiveActor
{
    public const string Name = "email-manager";

    private readonly Func<string, Props> _childProps;
    private readonly Func<string, Props>? _freshChildProps;
    private readonly Dictionary<string, IActorRef> _children = new();
    private readonly Dictionary<IActorRef, string> _idsByChild = new();
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _passivating = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public EmailManagerActor(Func<string, Props> childProps) : this(childProps, null) { }

    /// <param name="freshChildProps">Props for an email whose id was minted for this very request (an AcceptEmail
    /// without Idempotency-Key reaching no live child): it has nothing to recover.</param>
    public EmailManagerActor(Func<string, Props> childProps, Func<string, Props>? freshChildProps)
    {
        _childProps = childProps;
        _freshChildProps = freshChildProps;
        Receive<IWithEmailId>(Route);
        Receive<Passivate>(OnPassivate);
        Receive<Terminated>(OnTerminated);
        Receive<GetLiveCount>(_ => Sender.Tell(_children.Count));
    }

    public sealed record GetLiveCount;

    public static string ChildName(string emailId) => "email-" + Uri.EscapeDataString(emailId);

    private void Route(IWithEmailId msg)
    {
        if (_passivating.TryGetValue(msg.EmailId, out var buffer))
        {
            buffer.Add((msg, Sender));
            return;
        }
        var fresh = _freshChildProps is not null && msg is EmailCommands.AcceptEmail { IdempotencyKey: null };
        ChildFor(msg.EmailId, fresh).Forward(msg);
    }

    private IActorRef ChildFor(string emailId, bool fresh = false)
    {
        if (_children.TryGetValue(emailId, out var child)) return child;
        child = Context.ActorOf(fresh ? _freshChildProps!(emailId) : _childProps(emailId), ChildName(emailId));
        Context.Watch(child);
        _children[emailId] = child;
        _idsByChild[child] = emailId;
        return child;
    }

    private void OnPassivate(Passivate p)
    {
        if (!_idsByChild.TryGetValue(Sender, out var id) || _passivating.ContainsKey(id)) return;
        _passivating[id] = new List<(object, IActorRef)>();
        Sender.Tell(p.StopMessage);
    }

    private void OnTerminated(Terminated t)
    {
        if (!_idsByChild.Remove(t.ActorRef, out var id)) return;
        _children.Remove(id);
        if (!_passivating.Remove(id, out var buffered) || buffered.Count == 0) return;
        _log.Debug("Email {EmailId}: {Count} messages arrived while it passivated; restarting it", id, buffered.Count);
        var child = ChildFor(id);
        foreach (var (message, sender) in buffered) child.Tell(message, sender);
    }
}

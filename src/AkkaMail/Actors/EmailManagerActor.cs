using Akka.Actor;
using Akka.Event;
using AkkaMail.Domain;

namespace AkkaMail.Actors;

/// <summary>Sent by a child to its parent: stop me with this message, and hold my mail meanwhile.</summary>
public sealed record Passivate(object StopMessage);

/// <summary>
/// Parent of every email actor: routes each <see cref="IWithEmailId"/> message to the child <c>email-{id}</c>,
/// creating it on demand. The manager passivates idle children itself, as cluster sharding's "passivate idle entity
/// after" does: it notes when it last routed a message to each child, and a periodic sweep tells those idle longer
/// than the passivation timeout <see cref="EmailActor.Stop"/> (a receive timeout in each child rescheduled a timer on
/// every message it got). A child may also ask with <see cref="Passivate"/>. What arrives for a child while it stops
/// is buffered and delivered to its next incarnation, so nothing is lost. Messages find their email through the
/// sharding region's own <see cref="EmailMessageExtractor"/>: in cluster mode the region takes this parent's place.
/// </summary>
public sealed class EmailManagerActor : ReceiveActor, IWithTimers
{
    public const string Name = "email-manager";

    /// <summary>The sweep runs at least this far apart, however small the passivation timeout (tests use 100 ms).</summary>
    public static readonly TimeSpan MinSweepInterval = TimeSpan.FromMilliseconds(100);

    private readonly Func<string, Props> _childProps;
    private readonly Func<string, Props>? _freshChildProps;
    private readonly long _idleMs;   // 0: no idle passivation
    private readonly Dictionary<string, Child> _children = new();
    private readonly Dictionary<IActorRef, string> _idsByChild = new();
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _passivating = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Children are never passivated for idleness (only on their own <see cref="Passivate"/> request).</summary>
    public EmailManagerActor(Func<string, Props> childProps) : this(childProps, null) { }

    /// <inheritdoc cref="EmailManagerActor(Func{string, Props})"/>
    public EmailManagerActor(Func<string, Props> childProps, Func<string, Props>? freshChildProps)
        : this(childProps, freshChildProps, TimeSpan.Zero) { }

    /// <param name="freshChildProps">Props for an email whose id was minted for this very request (an AcceptEmail
    /// without Idempotency-Key reaching no live child): it has nothing to recover.</param>
    /// <param name="passivationTimeout">A child the manager has routed nothing to for this long is stopped (at most
    /// half as long again, the sweep interval, later). Zero or infinite: never.</param>
    public EmailManagerActor(Func<string, Props> childProps, Func<string, Props>? freshChildProps, TimeSpan passivationTimeout)
    {
        _childProps = childProps;
        _freshChildProps = freshChildProps;
        _idleMs = passivationTimeout > TimeSpan.Zero && passivationTimeout != Timeout.InfiniteTimeSpan
            ? Math.Max(1, (long)passivationTimeout.TotalMilliseconds)
            : 0;
        Receive<IWithEmailId>(Route);
        Receive<PassivateIdle>(_ => OnPassivateIdle());
        Receive<Passivate>(OnPassivate);
        Receive<Terminated>(OnTerminated);
        Receive<GetLiveCount>(_ => Sender.Tell(_children.Count));
    }

    public sealed record GetLiveCount;

    public static string ChildName(string emailId) => "email-" + Uri.EscapeDataString(emailId);

    /// <summary>How often idle children are looked for: half the timeout, at least <see cref="MinSweepInterval"/>.</summary>
    public static TimeSpan SweepInterval(TimeSpan passivationTimeout) =>
        passivationTimeout / 2 < MinSweepInterval ? MinSweepInterval : passivationTimeout / 2;

    protected override void PreStart()
    {
        base.PreStart();
        if (_idleMs > 0)
            Timers.StartPeriodicTimer(PassivateIdle.Instance, PassivateIdle.Instance,
                SweepInterval(TimeSpan.FromMilliseconds(_idleMs)));
    }

    /// <summary>A live child and when the manager last routed a message to it (<see cref="Environment.TickCount64"/>).</summary>
    private sealed class Child(IActorRef actor)
    {
        public readonly IActorRef Actor = actor;
        public long LastRouted = Environment.TickCount64;
    }

    private sealed class PassivateIdle
    {
        public static readonly PassivateIdle Instance = new();
        private PassivateIdle() { }
    }

    /// <summary>The cluster's region and this parent find an email's actor the same way.</summary>
    private static readonly EmailMessageExtractor Extractor = new(EmailMessageExtractor.DefaultShards);

    private void Route(IWithEmailId msg)
    {
        var emailId = Extractor.EntityId(msg)!;
        var message = Extractor.EntityMessage(msg) ?? msg;
        if (_passivating.TryGetValue(emailId, out var buffer))
        {
            buffer.Add((message, Sender));
            return;
        }
        var fresh = _freshChildProps is not null && message is EmailCommands.AcceptEmail { IdempotencyKey: null };
        var child = ChildFor(emailId, fresh);
        child.LastRouted = Environment.TickCount64;
        child.Actor.Forward(message);
    }

    private Child ChildFor(string emailId, bool fresh = false)
    {
        if (_children.TryGetValue(emailId, out var child)) return child;
        var actor = Context.ActorOf(fresh ? _freshChildProps!(emailId) : _childProps(emailId), ChildName(emailId));
        Context.Watch(actor);
        _children[emailId] = child = new Child(actor);
        _idsByChild[actor] = emailId;
        return child;
    }

    private void OnPassivateIdle()
    {
        var now = Environment.TickCount64;
        var stopped = 0;
        foreach (var (id, child) in _children)
        {
            if (now - child.LastRouted < _idleMs || _passivating.ContainsKey(id)) continue;
            // Mail already routed to it is ahead of the stop in its mailbox; what comes next waits here.
            _passivating[id] = new List<(object, IActorRef)>();
            child.Actor.Tell(EmailActor.Stop.Instance);
            stopped++;
        }
        if (stopped > 0) _log.Debug("Passivating {Count} idle email actors of {Live}", stopped, _children.Count);
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
        var child = ChildFor(id).Actor;
        foreach (var (message, sender) in buffered) child.Tell(message, sender);
    }
}

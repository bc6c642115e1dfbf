using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using AkkaMail.Projections;

namespace AkkaMail.ReadModel;

/// <summary>
/// Cluster mode, with the read side projected once per cluster (a singleton on one node): how every node's
/// <see cref="ProjectionProgress"/> learns how far that projection has come, so that reads and held replies wait on
/// this node exactly as they would beside the runner.
/// <list type="bullet">
/// <item>The runner announces each stored offset on a DistributedPubSub topic (<see cref="Announce"/>); a follower
/// moves its progress to it at once.</item>
/// <item>Announcements are at most once (a hand-over, a node joining before the topic reached it), so the follower
/// also reads the stored offset every <c>pollInterval</c>: a lost announcement delays, never blocks.</item>
/// <item>Replies held until a suppressing change is projected wait on (persistence id, sequence nr), which an offset
/// does not name. The follower looks up that event's ordering in the journal and releases the wait once the stored
/// offset has reached it: the batch that held the event, and its suppressions, is then committed. (Not an email's
/// view version: a view may already show a change whose own batch, with its suppression, is still to come.)</item>
/// </list>
/// </summary>
public sealed class ReadSideFollowerActor : ReceiveActor, IWithTimers
{
    public const string Name = "read-side-follower";
    public const string Topic = "akkamail-read-side";

    /// <summary>The read-side projection has stored everything up to <paramref name="Offset"/> (crosses nodes).</summary>
    public sealed record Advanced(long Offset);

    private sealed record Poll
    {
        public static readonly Poll Instance = new();
    }

    private sealed record Polled(long Offset);

    private sealed record Found(IReadOnlyList<((string PersistenceId, long SequenceNr) Event, long Ordering)> Orderings);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ProjectionProgress _progress;
    private readonly IEmailProjectionStore _offsets;
    private readonly Func<string, long, Task<long?>> _orderingOf;
    private readonly TimeSpan _pollInterval;
    // Where the waited events are in the journal, once found (an event waited on before it is persisted is not yet there).
    private readonly Dictionary<(string PersistenceId, long SequenceNr), long> _orderings = new();
    private bool _looking;
    private bool _lookAgain;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="orderingOf">The journal's ordering of the event (persistence id, sequence nr), or null if it is not
    /// in the journal (yet).</param>
    public ReadSideFollowerActor(ProjectionProgress progress, IEmailProjectionStore offsets, Func<string, long, Task<long?>> orderingOf,
        TimeSpan pollInterval)
    {
        _progress = progress;
        _offsets = offsets;
        _orderingOf = orderingOf;
        _pollInterval = pollInterval;
        Receive<Advanced>(a => Follow(a.Offset));
        Receive<Poll>(_ =>
        {
            _offsets.LoadOffsetAsync(EmailReadSideProjection.Name).PipeTo(Self,
                success: offset => new Polled(offset),
                failure: e => new Status.Failure(e));
            LookUpWaited();
        });
        Receive<Polled>(p => Follow(p.Offset));
        Receive<Found>(f =>
        {
            foreach (var (evt, ordering) in f.Orderings) _orderings[evt] = ordering;
            _looking = false;
            Release();
            if (_lookAgain) LookUpWaited();
        });
        Receive<Status.Failure>(f =>
        {
            _looking = false;
            _log.Warning(f.Cause, "Read-side follower: could not read the projection's progress; trying again in {0}", _pollInterval);
        });
    }

    public static Props Props(ProjectionProgress progress, IEmailProjectionStore offsets, Func<string, long, Task<long?>> orderingOf,
        TimeSpan pollInterval) =>
        Akka.Actor.Props.Create(() => new ReadSideFollowerActor(progress, offsets, orderingOf, pollInterval));

    /// <summary>What the runner's node calls after each stored batch.</summary>
    public static Action<long> Announce(ActorSystem system)
    {
        var mediator = DistributedPubSub.Get(system).Mediator;
        return offset => mediator.Tell(new Publish(Topic, new Advanced(offset)));
    }

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topic, Self));
        Timers.StartPeriodicTimer("poll", Poll.Instance, TimeSpan.Zero, _pollInterval);
    }

    private void Follow(long offset)
    {
        _progress.Followed(offset);
        Release();
        LookUpWaited();
    }

    /// <summary>Releases the waits whose event the stored offset has passed; forgets events nobody waits on any more.</summary>
    private void Release()
    {
        if (_orderings.Count == 0) return;
        var waited = _progress.WaitedEvents.ToHashSet();
        foreach (var (evt, ordering) in _orderings.ToList())
        {
            if (!waited.Contains(evt)) _orderings.Remove(evt);
            else if (_progress.Offset >= ordering)
            {
                _progress.Projected(evt.PersistenceId, evt.SequenceNr);
                _orderings.Remove(evt);
            }
        }
    }

    /// <summary>Looks up the orderings of waited events not yet found; one look-up at a time, again after it if asked meanwhile.</summary>
    private void LookUpWaited()
    {
        var unknown = _progress.WaitedEvents.Where(e => !_orderings.ContainsKey(e)).ToList();
        if (unknown.Count == 0) return;
        if (_looking)
        {
            _lookAgain = true;
            return;
        }
        _looking = true;
        _lookAgain = false;
        OrderingsAsync(unknown).PipeTo(Self, success: found => new Found(found), failure: e => new Status.Failure(e));
    }

    private async Task<IReadOnlyList<((string, long), long)>> OrderingsAsync(IReadOnlyList<(string PersistenceId, long SequenceNr)> events)
    {
        var found = new List<((string, long), long)>(events.Count);
        foreach (var evt in events)
            if (await _orderingOf(evt.PersistenceId, evt.SequenceNr) is { } ordering) found.Add((evt, ordering));
        return found;
    }
}

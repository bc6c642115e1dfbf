using Akka.Actor;
using Akka.Event;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Actors;

/// <summary>
/// The dispatch sweep: at start-up and then on an interval, asks every email whose send is unsettled to check
/// itself (<see cref="EmailCommands.SweepDispatch"/>): one accepted but never queued, or queued and never picked
/// up within the timeout, dispatches itself again; a hand-over whose publish is still pending counts from when the email's
/// actor handed it over. The queue may lose a job; the journal never does.
/// </summary>
public sealed class SweeperActor : ReceiveActor, IWithTimers
{
    public const string Name = "dispatch-sweeper";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _running;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="clock">The email actors' clock: "dispatched before this start" compares with their dispatch times.</param>
    /// <param name="readSideCaughtUp">Completes once the read model (whose unsettled index the sweep reads) has caught
    /// up with the journal as it was at start: the start-up sweep waits for it, or it would miss the emails accepted
    /// just before a crash whose views were not yet projected.</param>
    public SweeperActor(IEmailReadStore store, IActorRef emailManager, TimeSpan interval, TimeSpan pickupTimeout,
        TimeSpan startupPickupTimeout, int batchSize, bool startupLosesQueuedJobs = false, TimeProvider? clock = null,
        Func<Task>? readSideCaughtUp = null)
    {
        var startedAt = (clock ?? TimeProvider.System).GetUtcNow();
        Receive<SweepNow>(s =>
        {
            if (_running) return;
            _running = true;
            var caughtUp = readSideCaughtUp;
            readSideCaughtUp = null; // only the first sweep waits
            SweepAsync(store, emailManager, s, batchSize, caughtUp).PipeTo(Self);
        });
        Receive<int>(count =>
        {
            _running = false;
            if (count > 0) _log.Info("Dispatch sweep checked {Count} unsettled emails", count);
        });
        Receive<Status.Failure>(f =>
        {
            _running = false;
            _log.Warning(f.Cause, "Dispatch sweep failed; next try in {Interval}", interval);
        });
        // Right after start, jobs held by a non-durable queue are gone with the old process, due or not: the
        // start-up sweep re-dispatches everything queued before this start. Then periodically with the timeout.
        Self.Tell(new SweepNow(startupPickupTimeout, startupLosesQueuedJobs ? startedAt : null));
        Timers.StartPeriodicTimer("sweep", new SweepNow(pickupTimeout), interval);
    }

    private static async Task<int> SweepAsync(IEmailReadStore store, IActorRef manager, SweepNow sweep, int batchSize, Func<Task>? caughtUp)
    {
        if (caughtUp is not null) await caughtUp();
        var count = 0;
        string? after = null;
        while (true)
        {
            var ids = await store.FindUnsettledAsync(batchSize, after);
            foreach (var id in ids) manager.Tell(new EmailCommands.SweepDispatch(id, sweep.PickupTimeout, sweep.LostIfDispatchedBefore), ActorRefs.NoSender);
            count += ids.Count;
            if (ids.Count < batchSize) return count;
            after = ids[^1];
        }
    }
}

using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace AkkaMail.Projections;

/// <summary>
/// What a projection does with the journal's events. The runner hands it batches in journal order and the offset
/// (the ordering of the batch's last event) to store with them. After a crash the runner resumes from the stored
/// offset, so a batch may be handed over again: storing it twice must change nothing (one transaction with the
/// offset, or idempotent writes followed by the offset).
/// </summary>
public interface IProjectionHandler
{
    /// <summary>The stored offset: the ordering of the last event already projected, 0 for none.</summary>
    Task<long> LoadOffsetAsync(CancellationToken ct);

    /// <summary>Projects the batch and stores <paramref name="offset"/>; throws if it could not (the batch is retried).</summary>
    Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct);
}

/// <param name="BatchSize">Most events handed to the handler at once.</param>
/// <param name="BatchWindow">How long the runner waits to fill a batch while events trickle in.</param>
/// <param name="MinBackoff">First pause after a failure (doubling up to <paramref name="MaxBackoff"/>).</param>
public sealed record ProjectionSettings(int BatchSize, TimeSpan BatchWindow, TimeSpan MinBackoff, TimeSpan MaxBackoff)
{
    public static readonly ProjectionSettings Default = new(500, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
}

/// <summary>
/// The projection loop, reusable and knowing nothing of what is projected: stored offset → events from there
/// (a read journal query) → batches → handler (stores the batch and the offset) → progress; on any failure the
/// whole loop restarts with backoff from the offset stored last.
/// </summary>
public static class ProjectionStream
{
    /// <summary>The loop as a source of stored offsets (one element per stored batch). Not restarted on failure.</summary>
    public static Source<long, NotUsed> Once(IProjectionHandler handler, Func<long, Source<EventEnvelope, NotUsed>> events,
        ProjectionProgress progress, ProjectionSettings settings) =>
        Source.FromTask(handler.LoadOffsetAsync(CancellationToken.None))
            .ConcatMany(offset =>
            {
                progress.Loaded(offset);
                return events(offset);
            })
            .GroupedWithin(settings.BatchSize, settings.BatchWindow)
            .SelectAsync(1, async grouped =>
            {
                var batch = grouped as IReadOnlyList<EventEnvelope> ?? grouped.ToList();
                var offset = OrderingOf(batch[^1]);
                try
                {
                    await handler.HandleAsync(batch, offset, CancellationToken.None);
                }
                catch (Exception e)
                {
                    progress.Failed(e);
                    throw;
                }
                var done = new (string, long)[batch.Count];
                for (var i = 0; i < batch.Count; i++) done[i] = (batch[i].PersistenceId, batch[i].SequenceNr);
                progress.Stored(offset, done);
                return offset;
            });

    /// <summary>The loop restarted with backoff after every failure, each time from the offset stored last.</summary>
    public static Source<long, NotUsed> Restarting(IProjectionHandler handler, Func<long, Source<EventEnvelope, NotUsed>> events,
        ProjectionProgress progress, ProjectionSettings settings) =>
        RestartSource.OnFailuresWithBackoff(
            () => Once(handler, events, progress, settings),
            RestartSettings.Create(settings.MinBackoff, settings.MaxBackoff, 0.2));

    /// <summary>A <see cref="Sequence"/> offset's value (our journals order by a global sequence).</summary>
    public static long OrderingOf(EventEnvelope envelope) => envelope.Offset switch
    {
        Sequence s => s.Value,
        _ => throw new NotSupportedException($"Projections need Sequence offsets, got {envelope.Offset.GetType().Name}"),
    };
}

/// <summary>Runs one projection for the actor system's lifetime (<see cref="ProjectionStream.Restarting"/>).</summary>
public sealed class ProjectionRunnerActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IProjectionHandler _handler;
    private readonly Func<long, Source<EventEnvelope, NotUsed>> _events;
    private readonly ProjectionProgress _progress;
    private readonly ProjectionSettings _settings;
    private readonly Action<long>? _announce;
    private UniqueKillSwitch? _killSwitch;

    /// <param name="announce">Told each stored offset (cluster mode: the nodes that follow this projection learn of it).</param>
    public ProjectionRunnerActor(IProjectionHandler handler, Func<long, Source<EventEnvelope, NotUsed>> events,
        ProjectionProgress progress, ProjectionSettings settings, Action<long>? announce = null)
    {
        _handler = handler;
        _events = events;
        _progress = progress;
        _settings = settings;
        _announce = announce;
        Receive<Status.Failure>(f => _log.Error(f.Cause, "Projection {0} stopped", _progress.Name));
    }

    public static Props Props(IProjectionHandler handler, Func<long, Source<EventEnvelope, NotUsed>> events,
        ProjectionProgress progress, ProjectionSettings settings, Action<long>? announce = null) =>
        Akka.Actor.Props.Create(() => new ProjectionRunnerActor(handler, events, progress, settings, announce));

    protected override void PreStart()
    {
        var log = _log;
        var name = _progress.Name;
        var logged = new LoggingHandler(_handler, log, name);
        var announce = _announce;
        var stored = ProjectionStream.Restarting(logged, _events, _progress, _settings);
        if (announce is not null) stored = stored.Select(offset =>
        {
            announce(offset);
            return offset;
        });
        _killSwitch = stored
            .ViaMaterialized(KillSwitches.Single<long>(), Keep.Right)
            .To(Sink.Ignore<long>())
            .Run(Context.Materializer());
    }

    protected override void PostStop() => _killSwitch?.Shutdown();

    /// <summary>Logs each failure of the handler before the loop restarts.</summary>
    private sealed class LoggingHandler(IProjectionHandler inner, ILoggingAdapter log, string name) : IProjectionHandler
    {
        public async Task<long> LoadOffsetAsync(CancellationToken ct)
        {
            try { return await inner.LoadOffsetAsync(ct); }
            catch (Exception e)
            {
                log.Warning(e, "Projection {0}: could not load its offset; retrying with backoff", name);
                throw;
            }
        }

        public async Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct)
        {
            try { await inner.HandleAsync(batch, offset, ct); }
            catch (Exception e)
            {
                log.Warning(e, "Projection {0}: batch of {1} events up to {2} failed; resuming from the stored offset with backoff",
                    name, batch.Count, offset);
                throw;
            }
        }
    }
}

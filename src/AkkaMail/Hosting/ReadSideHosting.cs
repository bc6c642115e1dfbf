using Akka;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Configuration;
using AkkaMail.Persistence.MongoDb;
using AkkaMail.Persistence.Postgres;
using AkkaMail.Persistence.Sqlite;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Hosting;

/// <summary>The queries the read side needs, on whichever journal the service runs (SQLite, MongoDB or PostgreSQL).</summary>
public sealed class JournalQueries
{
    private readonly IAllEventsQuery _live;
    private readonly ICurrentAllEventsQuery _current;
    private readonly ICurrentEventsByPersistenceIdQuery _byPersistenceId;
    private readonly Func<CancellationToken, Task<long>> _highest;
    private readonly Func<long, CancellationToken, Task<long?>> _timestampAfter;
    private readonly IMaterializer _materializer;
    private readonly IActorRef _snapshots;

    private JournalQueries(IReadJournal journal, Func<CancellationToken, Task<long>> highest,
        Func<long, CancellationToken, Task<long?>> timestampAfter, IMaterializer materializer, IActorRef snapshots)
    {
        _snapshots = snapshots;
        _timestampAfter = timestampAfter;
        _live = (IAllEventsQuery)journal;
        _current = (ICurrentAllEventsQuery)journal;
        _byPersistenceId = (ICurrentEventsByPersistenceIdQuery)journal;
        _highest = highest;
        _materializer = materializer;
    }

    public static JournalQueries For(ActorSystem system, StoreKind store)
    {
        var query = PersistenceQuery.Get(system);
        var materializer = system.Materializer();
        var snapshots = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        if (store == StoreKind.MongoDb)
        {
            var mongo = query.ReadJournalFor<MongoDbReadJournal>(MongoDbReadJournal.Identifier);
            return new JournalQueries(mongo, mongo.HighestOrderingAsync, mongo.TimestampAfterAsync, materializer, snapshots);
        }
        if (store == StoreKind.Postgres)
        {
            // Akka.Persistence.Sql's query journal (polled; ordering offsets, gaps waited for) and the journal's head in SQL.
            var sql = PostgresPersistence.ReadJournal(system);
            var head = PostgresJournalHead.For(system);
            return new JournalQueries(sql, head.HighestOrderingAsync, head.TimestampAfterAsync, materializer, snapshots);
        }
        var sqlite = query.ReadJournalFor<SqliteReadJournal>(SqliteReadJournal.Identifier);
        // The journal's only writer is in this process: once it has committed, it knows the head without a query.
        return new JournalQueries(sqlite, ct => sqlite.LastCommittedOrdering is var last and >= 0
            ? Task.FromResult(last)
            : sqlite.HighestOrderingAsync(ct), sqlite.TimestampAfterAsync, materializer, snapshots);
    }

    /// <summary>Every event after <paramref name="offset"/>, then live.</summary>
    public Source<EventEnvelope, NotUsed> AllEventsAfter(long offset) => _live.AllEvents(Offset.Sequence(offset));

    /// <summary>Every event after <paramref name="offset"/> up to the journal's head at the start of the query.</summary>
    public Source<EventEnvelope, NotUsed> CurrentEventsAfter(long offset) => _current.CurrentAllEvents(Offset.Sequence(offset));

    /// <summary>A persistence id's events 1..<paramref name="toSequenceNr"/>; when retention deleted the first ones, its
    /// latest snapshot up to there first (it replaced them), then the events after it.</summary>
    public async Task<IReadOnlyList<object>> EventsUpToAsync(string persistenceId, long toSequenceNr)
    {
        var events = await _byPersistenceId.CurrentEventsByPersistenceId(persistenceId, 1, toSequenceNr)
            .RunWith(Sink.Seq<EventEnvelope>(), _materializer);
        if (toSequenceNr <= 0 || (events.Count > 0 && events[0].SequenceNr == 1)) return events.Select(e => e.Event).ToArray();
        var loaded = await _snapshots.Ask<object>(
            new Akka.Persistence.LoadSnapshot(persistenceId, new Akka.Persistence.SnapshotSelectionCriteria(toSequenceNr), toSequenceNr),
            TimeSpan.FromSeconds(30));
        return loaded switch
        {
            Akka.Persistence.LoadSnapshotResult { Snapshot: { } s } =>
                events.Where(e => e.SequenceNr > s.Metadata.SequenceNr).Select(e => e.Event).Prepend(s.Snapshot).ToArray(),
            Akka.Persistence.LoadSnapshotFailed f => throw f.Cause,
            _ => events.Select(e => e.Event).ToArray(),
        };
    }

    /// <summary>The ordering of the event (<paramref name="persistenceId"/>, <paramref name="sequenceNr"/>), or null
    /// when the journal does not hold it.</summary>
    public async Task<long?> OrderingOfAsync(string persistenceId, long sequenceNr)
    {
        var envelope = await _byPersistenceId.CurrentEventsByPersistenceId(persistenceId, sequenceNr, sequenceNr)
            .RunWith(Sink.FirstOrDefault<EventEnvelope>(), _materializer);
        return envelope is null ? null : ProjectionStream.OrderingOf(envelope);
    }

    /// <summary>A persistence id's first event (sequence number 1), or null when it is not in the journal.</summary>
    public async Task<object?> FirstEventAsync(string persistenceId, CancellationToken ct = default)
    {
        var events = await _byPersistenceId.CurrentEventsByPersistenceId(persistenceId, 1, 1)
            .RunWith(Sink.Seq<EventEnvelope>(), _materializer).WaitAsync(ct);
        return events.Count > 0 ? events[0].Event : null;
    }

    public Task<long> HighestOrderingAsync(CancellationToken ct = default) => _highest(ct);

    /// <summary>When the first event after <paramref name="ordering"/> was written, or null if there is none.</summary>
    public async Task<DateTimeOffset?> WrittenAfterAsync(long ordering, CancellationToken ct = default) =>
        await _timestampAfter(ordering, ct) is { } ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
}

public static class ReadSideHosting
{
    public const string RunnerName = "read-side-projection";

    /// <summary>
    /// The read side: one projection of the journal's email events into the read model (views and their indexes)
    /// and the suppression lists, resuming from its stored offset; and the journal's head, for knowing how far
    /// behind it is. In cluster mode the projection runs once per cluster as a singleton (unless
    /// <see cref="ClusterSettings.ReadSide"/> says every node), and every node follows its progress
    /// (<see cref="ReadSideFollowerActor"/>).
    /// </summary>
    public static AkkaConfigurationBuilder WithReadSide(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var options = sp.GetRequiredService<AkkaMailOptions>();
        var settings = sp.GetRequiredService<AkkaMailSettings>();
        var projectionStore = sp.GetRequiredService<IEmailProjectionStore>();
        var suppressions = sp.GetRequiredService<ISuppressionStore>();
        var progress = sp.GetRequiredService<ProjectionProgress>();
        var head = sp.GetRequiredService<JournalHead>();
        var singleton = options.Cluster is { Enabled: true, ReadSide: ReadSidePlacement.Singleton };
        JournalQueries? journal = null;
        Props RunnerProps(Action<long>? announce) => ProjectionRunnerActor.Props(
            new EmailReadSideProjection(projectionStore, suppressions, journal!.EventsUpToAsync, settings.ReadSideCachedStates,
                sp.GetService<Actors.LiveEmailStates>(), settings.SearchHeaders),
            journal.AllEventsAfter, progress, settings.ReadSideProjection, announce);
        builder.WithActors((system, registry, _) =>
        {
            journal = JournalQueries.For(system, options.Store);
            head.Use(journal.HighestOrderingAsync, journal.WrittenAfterAsync);
            var clock = sp.GetService<TimeProvider>() ?? TimeProvider.System;
            // The lag gauges read the last measurement; measured every 5 s (a head read and at most one row).
            if (sp.GetService<Observability.AkkaMailMetrics>() is { } metrics) metrics.ReadSideLag = () => head.LastLag;
            system.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), () =>
                head.LagAsync(progress, clock.GetUtcNow()).ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted));
            if (singleton)
            {
                system.ActorOf(ReadSideFollowerActor.Props(progress, projectionStore, journal.OrderingOfAsync, options.Cluster.ReadSidePoll),
                    ReadSideFollowerActor.Name);
                return;
            }
            registry.Register<ProjectionRunnerActor>(system.ActorOf(RunnerProps(announce: null), RunnerName));
        });
        if (singleton)
            builder.WithSingleton<ProjectionRunnerActor>(RunnerName,
                (system, _, _) => RunnerProps(ReadSideFollowerActor.Announce(system)), new ClusterSingletonOptions(), createProxyToo: false);
        return builder;
    }
}

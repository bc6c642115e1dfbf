using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Persistence.Sqlite;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// What only the SQLite read journal does: live queries woken by the writer's commits in this process, and
/// the in-process last committed ordering. refresh-interval is 30 s here, so only a wake-up can deliver an
/// event within the 5 s these tests allow.
/// </summary>
public sealed class SqliteReadJournalTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan WakeUpWithin = TimeSpan.FromSeconds(5);
    private readonly SqliteDatabaseFixture _db;

    public SqliteReadJournalTests(ITestOutputHelper output) : this(new SqliteDatabaseFixture(), output)
    {
    }

    private SqliteReadJournalTests(SqliteDatabaseFixture db, ITestOutputHelper output)
        : base(ConfigurationFactory.ParseString($"{SqliteReadJournal.Identifier}.refresh-interval = 30s")
            .WithFallback(db.Hocon).WithFallback(ContractConfig.Common), output: output) => _db = db;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db.Dispose();
    }

    private SqliteReadJournal ReadJournal =>
        PersistenceQuery.Get(Sys).ReadJournalFor<SqliteReadJournal>(SqliteReadJournal.Identifier);

    private void Write(string persistenceId, long sequenceNr, object payload)
    {
        var probe = CreateTestProbe();
        Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null).Tell(new WriteMessages(
            [new AtomicWrite(new Persistent(payload, sequenceNr, persistenceId, string.Empty, false, ActorRefs.NoSender, "w"))],
            probe.Ref, 1));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>();
    }

    private static async Task<T> Within<T>(ISinkQueue<T> queue, TimeSpan time)
    {
        var next = await queue.PullAsync().WaitAsync(time);
        Assert.True(next.HasValue);
        return next.Value;
    }

    [Fact]
    public void The_read_journal_takes_its_settings_from_its_section_and_the_write_plugin()
    {
        var settings = ReadJournal.Settings;
        Assert.Equal(SqlitePersistence.JournalPluginId, settings.WritePluginId);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.RefreshInterval);
        Assert.Equal(500, settings.MaxBufferSize);
        Assert.Equal("journal", settings.Journal.TableName);
        Assert.Contains(_db.Path, settings.Journal.ConnectionString);
    }

    private sealed record Payload(string Name);

    [Fact]
    public async Task A_live_query_that_has_caught_up_reads_this_process_s_commits_from_memory_and_the_table_after_a_delete()
    {
        Write("m", 1, new Payload("m-1"));
        var queue = ReadJournal.AllEvents(Offset.NoOffset()).RunWith(Sink.Queue<EventEnvelope>(), Sys.Materializer());
        // Written before the query ran: read from the table (a deserialized copy).
        var first = await Within(queue, WakeUpWithin);
        Assert.Equal(new Payload("m-1"), first.Event);

        // Committed while the query is caught up: the very object that was persisted, not a copy from the table.
        var second = new Payload("m-2");
        Write("m", 2, second);
        var envelope = await Within(queue, WakeUpWithin);
        Assert.Same(second, envelope.Event);
        Assert.Equal(2, envelope.SequenceNr);

        // A delete empties the tail, and a new query reads the table: the deleted event is gone, the rest are copies.
        var probe = CreateTestProbe();
        Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null).Tell(new DeleteMessagesTo("m", 1, probe.Ref));
        probe.ExpectMsg<DeleteMessagesSuccess>();
        var third = new Payload("m-3");
        Write("m", 3, third);
        Assert.Same(third, (await Within(queue, WakeUpWithin)).Event);
        var fresh = ReadJournal.AllEvents(Offset.NoOffset()).RunWith(Sink.Queue<EventEnvelope>(), Sys.Materializer());
        envelope = await Within(fresh, WakeUpWithin);
        Assert.Equal(2, envelope.SequenceNr);
        Assert.Equal(second, envelope.Event);
        Assert.NotSame(second, envelope.Event);
        Assert.Equal(3, (await Within(fresh, WakeUpWithin)).SequenceNr);
    }

    [Fact]
    public async Task A_live_query_is_woken_by_a_commit_long_before_refresh_interval()
    {
        Write("w", 1, "w-1"); // the journal is up and the table exists
        var live = new (string Name, Source<EventEnvelope, Akka.NotUsed> Source)[]
        {
            ("AllEvents", ReadJournal.AllEvents(Offset.NoOffset())),
            ("EventsByPersistenceId", ReadJournal.EventsByPersistenceId("w", 0, long.MaxValue)),
            ("EventsByTag", ReadJournal.EventsByTag("hot", Offset.NoOffset())),
        };
        var materializer = Sys.Materializer();
        var queues = live.Select(q => q.Source.RunWith(Sink.Queue<EventEnvelope>(), materializer)).ToArray();
        Assert.Equal(1, (await Within(queues[0], WakeUpWithin)).SequenceNr);
        Assert.Equal(1, (await Within(queues[1], WakeUpWithin)).SequenceNr);
        var tagged = queues[2].PullAsync(); // caught up (nothing tagged yet): waits for a wake-up or the 30 s poll
        var ids = ReadJournal.PersistenceIds().RunWith(Sink.Queue<string>(), materializer);
        Assert.Equal("w", await Within(ids, WakeUpWithin));
        await Task.Delay(300); // every query has caught up and waits

        for (var round = 2; round <= 4; round++)
        {
            var watch = Stopwatch.StartNew();
            var all = queues[0].PullAsync();
            var byId = queues[1].PullAsync();
            Write("w", round, new Akka.Persistence.Journal.Tagged($"w-{round}", ["hot"]));
            Assert.Equal(round, (await all.WaitAsync(WakeUpWithin)).Value.SequenceNr);
            Assert.Equal(round, (await byId.WaitAsync(WakeUpWithin)).Value.SequenceNr);
            Assert.Equal(round, (await tagged.WaitAsync(WakeUpWithin)).Value.SequenceNr);
            tagged = queues[2].PullAsync();
            Assert.True(watch.Elapsed < WakeUpWithin, $"round {round} took {watch.Elapsed}");
        }

        Write("w2", 1, "x");
        Assert.Equal("w2", await Within(ids, WakeUpWithin));
        Assert.Equal(await ReadJournal.HighestOrderingAsync(), ReadJournal.LastCommittedOrdering);
    }

    [Fact]
    public async Task Highest_and_last_committed_ordering_follow_the_writes()
    {
        Assert.Equal(0, await ReadJournal.HighestOrderingAsync());
        for (var i = 1; i <= 3; i++) Write("h", i, $"h-{i}");
        var highest = await ReadJournal.HighestOrderingAsync();
        Assert.Equal(3, highest);
        Assert.Equal(highest, ReadJournal.LastCommittedOrdering);
    }

    [Fact]
    public void Notifications_are_shared_by_every_spelling_of_a_database_file()
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, _db.Path);
        Assert.Same(
            SqliteJournalNotifications.For(_db.ConnectionString),
            SqliteJournalNotifications.For($"Data Source={relative};Cache=Shared"));
        Assert.NotSame(
            SqliteJournalNotifications.For(_db.ConnectionString),
            SqliteJournalNotifications.For($"Data Source={_db.Path}.other"));
    }

    [Fact]
    public void A_failing_listener_does_not_reach_the_writer_and_others_still_hear()
    {
        var notifications = SqliteJournalNotifications.For($"Data Source={_db.Path}.listeners");
        var heard = 0;
        using var failing = notifications.Subscribe(() => throw new InvalidOperationException("boom"));
        using (notifications.Subscribe(() => heard++))
        {
            notifications.Committed(7);
            notifications.Committed(5); // an older commit does not move it back
        }
        notifications.Committed(9);
        Assert.Equal(2, heard);
        Assert.Equal(9, notifications.LastCommittedOrdering);
    }
}

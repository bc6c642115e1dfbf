using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// What every read journal must do (our stand-in for Akka.Persistence.Query's TCK specs: AllEvents,
/// CurrentAllEvents, EventsByPersistenceId, EventsByTag, PersistenceIds, CurrentPersistenceIds). Each test has
/// a database of its own (the derived class creates and removes it), so whole-journal queries see only the
/// test's events. Events are written with the journal protocol (WriteMessages) to the default journal.
/// Pages are 3 rows (max-buffer-size), so every query here reads several pages.
/// </summary>
public abstract class ReadJournalContract : Akka.TestKit.Xunit2.TestKit
{
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly string _writerGuid = Guid.NewGuid().ToString();

    protected ReadJournalContract(Config backend, string readJournalId, ITestOutputHelper output)
        : base(ConfigurationFactory.ParseString($"""
                {readJournalId}.refresh-interval = 300ms
                {readJournalId}.max-buffer-size = 3
                """).WithFallback(backend).WithFallback(ContractConfig.Common), output: output)
    {
        ReadJournalId = readJournalId;
        Materializer = Sys.Materializer();
    }

    protected string ReadJournalId { get; }

    protected IMaterializer Materializer { get; }

    /// <summary>Skips the test (with the reason) when the backend is not available.</summary>
    protected virtual void SkipIfUnavailable()
    {
    }

    /// <summary>The backend's read journal (obtained through PersistenceQuery).</summary>
    protected abstract IReadJournal ReadJournal { get; }

    /// <summary>The backend's HighestOrderingAsync.</summary>
    protected abstract Task<long> HighestOrderingAsync();

    private IActorRef Journal => Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);

    /// <summary>Writes events of one persistence id (one AtomicWrite each), optionally tagged, and waits for the commit.</summary>
    protected void Write(string persistenceId, long fromSequenceNr, params object[] payloads)
    {
        var probe = CreateTestProbe();
        var writes = payloads.Select((payload, i) => (IPersistentEnvelope)new AtomicWrite(new Persistent(
            payload, fromSequenceNr + i, persistenceId, string.Empty, false, ActorRefs.NoSender, _writerGuid))).ToArray();
        Journal.Tell(new WriteMessages(writes, probe.Ref, 1));
        probe.ExpectMsg<WriteMessagesSuccessful>(Wait);
        for (var i = 0; i < payloads.Length; i++) probe.ExpectMsg<WriteMessageSuccess>(Wait);
    }

    protected static Tagged Tag(object payload, params string[] tags) => new(payload, tags);

    private void DeleteTo(string persistenceId, long toSequenceNr)
    {
        var probe = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(persistenceId, toSequenceNr, probe.Ref));
        probe.ExpectMsg<DeleteMessagesSuccess>(Wait);
    }

    /// <summary>Runs a query that must complete and returns its elements.</summary>
    protected async Task<IReadOnlyList<T>> RunCurrent<T>(Source<T, NotUsed> source) =>
        await source.RunWith(Sink.Seq<T>(), Materializer).WaitAsync(Wait);

    /// <summary>Runs a live query into a queue (pulled by the test); cancelled when the test ends.</summary>
    protected LiveQuery<T> RunLive<T>(Source<T, NotUsed> source)
    {
        var (kill, queue) = source.ViaMaterialized(KillSwitches.Single<T>(), Keep.Right)
            .ToMaterialized(Sink.Queue<T>(), Keep.Both).Run(Materializer);
        return new LiveQuery<T>(kill, queue);
    }

    protected sealed class LiveQuery<T>(UniqueKillSwitch kill, ISinkQueue<T> queue) : IDisposable
    {
        /// <summary>The next element; fails after <paramref name="timeout"/> (default 15 s) or if the stream ended.</summary>
        public async Task<T> Next(TimeSpan? timeout = null)
        {
            var next = await queue.PullAsync().WaitAsync(timeout ?? Wait);
            return next.HasValue ? next.Value : throw new Xunit.Sdk.XunitException("The live query completed.");
        }

        public async Task<List<T>> Next(int count)
        {
            var items = new List<T>();
            for (var i = 0; i < count; i++) items.Add(await Next());
            return items;
        }

        /// <summary>True if the stream completed (next pull gives no element) within the timeout.</summary>
        public async Task<bool> Completes(TimeSpan timeout)
        {
            var next = await queue.PullAsync().WaitAsync(timeout);
            return !next.HasValue;
        }

        /// <summary>Asserts that nothing arrives within <paramref name="time"/>.</summary>
        public async Task ExpectNothing(TimeSpan time)
        {
            var pull = queue.PullAsync();
            var winner = await Task.WhenAny(pull, Task.Delay(time));
            if (winner == pull) throw new Xunit.Sdk.XunitException($"Unexpected element {pull.Result}");
            // the pull stays pending: the next Next() would race it, so this is the last call of a test
        }

        public void Dispose() => kill.Shutdown();
    }

    private static long Ordering(EventEnvelope e) => ((Sequence)e.Offset).Value;

    private static string[] Describe(IEnumerable<EventEnvelope> envelopes) =>
        envelopes.Select(e => $"{e.PersistenceId}:{e.SequenceNr}:{e.Event}").ToArray();

    private void WriteAbc()
    {
        Write("a", 1, "a-1", "a-2", "a-3");
        Write("b", 1, "b-1", "b-2");
        Write("c", 1, "c-1");
    }

    // ---- all events ----

    [SkippableFact]
    public async Task CurrentAllEvents_returns_every_event_in_ordering_order_and_completes()
    {
        SkipIfUnavailable();
        WriteAbc();
        var all = await RunCurrent(((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset()));
        Assert.Equal(new[] { "a:1:a-1", "a:2:a-2", "a:3:a-3", "b:1:b-1", "b:2:b-2", "c:1:c-1" }, Describe(all));
        var orderings = all.Select(Ordering).ToArray();
        Assert.Equal(orderings.Order(), orderings);
        Assert.Equal(orderings.Length, orderings.Distinct().Count());
        Assert.All(all, e => Assert.True(e.Timestamp > 0));
        Assert.Equal(orderings[^1], await HighestOrderingAsync());
    }

    [SkippableFact]
    public async Task CurrentAllEvents_of_an_empty_journal_completes_empty()
    {
        SkipIfUnavailable();
        Assert.Empty(await RunCurrent(((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset())));
        Assert.Equal(0, await HighestOrderingAsync());
    }

    [SkippableFact]
    public async Task Offsets_are_exclusive_and_resumable()
    {
        SkipIfUnavailable();
        WriteAbc();
        var query = (ICurrentAllEventsQuery)ReadJournal;
        var all = await RunCurrent(query.CurrentAllEvents(Offset.NoOffset()));
        Assert.Equal(Describe(all), Describe(await RunCurrent(query.CurrentAllEvents(Offset.Sequence(0)))));
        for (var i = 0; i < all.Count; i++)
        {
            var rest = await RunCurrent(query.CurrentAllEvents(all[i].Offset));
            Assert.Equal(Describe(all.Skip(i + 1)), Describe(rest));
        }
    }

    [SkippableFact]
    public async Task A_current_query_stops_at_the_events_that_existed_when_it_started()
    {
        SkipIfUnavailable();
        WriteAbc();
        var queue = ((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset())
            .RunWith(Sink.Queue<EventEnvelope>(), Materializer);
        var first = await queue.PullAsync().WaitAsync(Wait); // the query has started (read its bound)
        Assert.True(first.HasValue);
        Write("d", 1, "d-1", "d-2", "d-3", "d-4");
        var rest = new List<EventEnvelope>();
        while (await queue.PullAsync().WaitAsync(Wait) is { HasValue: true } next) rest.Add(next.Value);
        Assert.Equal(new[] { "a:2:a-2", "a:3:a-3", "b:1:b-1", "b:2:b-2", "c:1:c-1" }, Describe(rest));
    }

    [SkippableFact]
    public async Task AllEvents_sees_existing_events_then_events_written_after_it_started()
    {
        SkipIfUnavailable();
        WriteAbc();
        using var live = RunLive(((IAllEventsQuery)ReadJournal).AllEvents(Offset.NoOffset()));
        var existing = await live.Next(6);
        Assert.Equal(new[] { "a:1:a-1", "a:2:a-2", "a:3:a-3", "b:1:b-1", "b:2:b-2", "c:1:c-1" }, Describe(existing));
        Write("a", 4, "a-4");
        Write("d", 1, "d-1", "d-2", "d-3", "d-4");
        var added = await live.Next(5);
        Assert.Equal(new[] { "a:4:a-4", "d:1:d-1", "d:2:d-2", "d:3:d-3", "d:4:d-4" }, Describe(added));
        Assert.True(Ordering(added[0]) > Ordering(existing[^1]));
    }

    [SkippableFact]
    public async Task AllEvents_resumes_after_an_offset()
    {
        SkipIfUnavailable();
        WriteAbc();
        var all = await RunCurrent(((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset()));
        using var live = RunLive(((IAllEventsQuery)ReadJournal).AllEvents(all[3].Offset));
        Assert.Equal(new[] { "b:2:b-2", "c:1:c-1" }, Describe(await live.Next(2)));
        Write("c", 2, "c-2");
        Assert.Equal("c:2:c-2", Describe([await live.Next()])[0]);
    }

    [SkippableFact]
    public async Task Events_are_deserialized_with_their_serializer_and_manifest()
    {
        SkipIfUnavailable();
        Write("s", 1, new ContractEvent("x"), Tag(new ContractEvent("y"), "t"));
        var all = await RunCurrent(((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset()));
        Assert.Equal(2, all.Count);
        Assert.All(all, e =>
        {
            var decoded = Assert.IsType<ContractEvent>(e.Event); // a Tagged is unwrapped
            Assert.Equal($"{nameof(ContractSerializer)}:{ContractSerializer.EventManifest}", decoded.DecodedBy);
        });
        Assert.Equal(["x", "y"], all.Select(e => ((ContractEvent)e.Event).Value));
        Assert.Empty(all[0].Tags);
        Assert.Equal(["t"], all[1].Tags);
    }

    [SkippableFact]
    public async Task Deleted_events_are_absent()
    {
        SkipIfUnavailable();
        WriteAbc();
        DeleteTo("a", 2);
        var all = await RunCurrent(((ICurrentAllEventsQuery)ReadJournal).CurrentAllEvents(Offset.NoOffset()));
        Assert.Equal(new[] { "a:3:a-3", "b:1:b-1", "b:2:b-2", "c:1:c-1" }, Describe(all));
    }

    // ---- by persistence id ----

    [SkippableTheory]
    [InlineData(0, long.MaxValue, new long[] { 1, 2, 3, 4, 5 })]
    [InlineData(1, long.MaxValue, new long[] { 1, 2, 3, 4, 5 })]
    [InlineData(2, 4, new long[] { 2, 3, 4 })]
    [InlineData(4, 4, new long[] { 4 })]
    [InlineData(5, 9, new long[] { 5 })]
    [InlineData(6, long.MaxValue, new long[0])]
    [InlineData(4, 2, new long[0])]
    public async Task CurrentEventsByPersistenceId_returns_the_range_and_completes(long from, long to, long[] expected)
    {
        SkipIfUnavailable();
        Write("p", 1, "p-1", "p-2", "p-3", "p-4", "p-5");
        Write("q", 1, "q-1");
        var events = await RunCurrent(((ICurrentEventsByPersistenceIdQuery)ReadJournal).CurrentEventsByPersistenceId("p", from, to));
        Assert.Equal(expected, events.Select(e => e.SequenceNr));
        Assert.All(events, e => Assert.Equal("p", e.PersistenceId));
        Assert.Equal(expected.Select(n => $"p-{n}"), events.Select(e => (string)e.Event));
    }

    [SkippableFact]
    public async Task CurrentEventsByPersistenceId_of_an_unknown_id_completes_empty()
    {
        SkipIfUnavailable();
        WriteAbc();
        Assert.Empty(await RunCurrent(((ICurrentEventsByPersistenceIdQuery)ReadJournal).CurrentEventsByPersistenceId("nobody", 0, long.MaxValue)));
    }

    [SkippableFact]
    public async Task EventsByPersistenceId_sees_new_events_and_completes_at_toSequenceNr()
    {
        SkipIfUnavailable();
        Write("p", 1, "p-1", "p-2", "p-3");
        using var live = RunLive(((IEventsByPersistenceIdQuery)ReadJournal).EventsByPersistenceId("p", 2, 5));
        Assert.Equal(new long[] { 2, 3 }, (await live.Next(2)).Select(e => e.SequenceNr));
        Write("other", 1, "o-1");
        Write("p", 4, "p-4", "p-5", "p-6");
        Assert.Equal(new long[] { 4, 5 }, (await live.Next(2)).Select(e => e.SequenceNr));
        Assert.True(await live.Completes(Wait));
    }

    // ---- by tag ----

    private void WriteTagged()
    {
        Write("a", 1, Tag("a-1", "red"), "a-2", Tag("a-3", "red", "blue"));
        Write("b", 1, Tag("b-1", "blue"), Tag("b-2", "red"), Tag("b-3", "reddish"));
    }

    [SkippableFact]
    public async Task CurrentEventsByTag_returns_the_tagged_events_in_order_and_completes()
    {
        SkipIfUnavailable();
        WriteTagged();
        var query = (ICurrentEventsByTagQuery)ReadJournal;
        var red = await RunCurrent(query.CurrentEventsByTag("red", Offset.NoOffset()));
        Assert.Equal(new[] { "a:1:a-1", "a:3:a-3", "b:2:b-2" }, Describe(red));
        Assert.All(red, e => Assert.Contains("red", e.Tags));
        Assert.Equal(new[] { "a:3:a-3", "b:1:b-1" }, Describe(await RunCurrent(query.CurrentEventsByTag("blue", Offset.NoOffset()))));
        Assert.Empty(await RunCurrent(query.CurrentEventsByTag("green", Offset.NoOffset())));
        Assert.Equal(new[] { "b:2:b-2" }, Describe(await RunCurrent(query.CurrentEventsByTag("red", red[1].Offset))));
    }

    [SkippableFact]
    public async Task EventsByTag_sees_new_tagged_events_only()
    {
        SkipIfUnavailable();
        WriteTagged();
        using var live = RunLive(((IEventsByTagQuery)ReadJournal).EventsByTag("blue", Offset.NoOffset()));
        Assert.Equal(new[] { "a:3:a-3", "b:1:b-1" }, Describe(await live.Next(2)));
        Write("c", 1, "c-1", Tag("c-2", "red"), Tag("c-3", "blue"), "c-4", "c-5", "c-6", "c-7");
        Write("c", 8, Tag("c-8", "blue", "red"));
        Assert.Equal(new[] { "c:3:c-3", "c:8:c-8" }, Describe(await live.Next(2)));
    }

    // ---- persistence ids ----

    [SkippableFact]
    public async Task CurrentPersistenceIds_returns_each_id_once_and_completes()
    {
        SkipIfUnavailable();
        WriteAbc();
        Write("d", 1, "d-1");
        Write("e", 1, "e-1", "e-2");
        var ids = await RunCurrent(((ICurrentPersistenceIdsQuery)ReadJournal).CurrentPersistenceIds());
        Assert.Equal(new[] { "a", "b", "c", "d", "e" }, ids.Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task PersistenceIds_sees_existing_then_new_ids_once()
    {
        SkipIfUnavailable();
        WriteAbc();
        Write("d", 1, "d-1");
        using var live = RunLive(((IPersistenceIdsQuery)ReadJournal).PersistenceIds());
        Assert.Equal(new[] { "a", "b", "c", "d" }, (await live.Next(4)).Order(StringComparer.Ordinal));
        Write("a", 4, "a-4");
        Write("new-1", 1, "n-1", "n-2");
        Write("new-1", 3, "n-3");
        Write("new-2", 1, "m-1");
        Assert.Equal(new[] { "new-1", "new-2" }, await live.Next(2));
        await live.ExpectNothing(TimeSpan.FromSeconds(1));
    }
}

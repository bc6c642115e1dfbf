using System.Collections.Concurrent;
using Akka;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Domain;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Tests;

/// <summary>The projection loop (<see cref="ProjectionStream"/>) and the email read side's handler, on in-memory parts.</summary>
public sealed class ProjectionRunnerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly ProjectionSettings Fast = new(3, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50));

    /// <summary>A journal of numbered events; a query from offset o yields orderings o+1.. (Sequence offsets).</summary>
    private static Func<long, Source<EventEnvelope, NotUsed>> Journal(int count) => offset =>
        Source.From(Enumerable.Range(1, count).Where(o => o > offset)
            .Select(o => new EventEnvelope(Offset.Sequence(o), "p" + (o % 2), o, "event-" + o, o * 1000L, Array.Empty<string>())));

    /// <summary>
    /// At-least-once on purpose: writes its rows, then (separately) its offset, as a store without transactions would;
    /// can be told to die between the two, as a kill -9 would.
    /// </summary>
    private sealed class TwoStepHandler : IProjectionHandler
    {
        public readonly ConcurrentDictionary<long, int> Applied = new();   // ordering → times applied
        public long StoredOffset;
        public int CrashAfterRowsOfBatchEndingAt = -1;
        public int FailuresLeft;
        public int Calls;

        public Task<long> LoadOffsetAsync(CancellationToken ct) => Task.FromResult(Interlocked.Read(ref StoredOffset));

        public Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                throw new InvalidOperationException("store unavailable");
            }
            foreach (var e in batch) Applied.AddOrUpdate(((Sequence)e.Offset).Value, 1, (_, n) => n + 1);
            if (offset == CrashAfterRowsOfBatchEndingAt)
            {
                CrashAfterRowsOfBatchEndingAt = -1;
                throw new InvalidOperationException("killed between the rows and the offset");
            }
            Interlocked.Exchange(ref StoredOffset, offset);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task After_a_crash_between_its_rows_and_its_offset_it_resumes_from_the_stored_offset_and_reapplies_that_batch_only()
    {
        var handler = new TwoStepHandler { CrashAfterRowsOfBatchEndingAt = 6 };
        var progress = new ProjectionProgress("t");
        var offsets = await ProjectionStream.Restarting(handler, Journal(10), progress, Fast with { BatchSize = 3 })
            .TakeWhile(o => o < 10, inclusive: true)
            .RunWith(Sink.Seq<long>(), Sys.Materializer());
        Assert.Equal(10, handler.StoredOffset);
        Assert.Equal(10, progress.Offset);
        Assert.Equal(Enumerable.Range(1, 10).Select(o => (long)o), handler.Applied.Keys.Order());
        // Only the batch whose offset was lost came twice (4, 5, 6); everything before it once.
        Assert.Equal(new long[] { 4, 5, 6 }, handler.Applied.Where(kv => kv.Value == 2).Select(kv => kv.Key).Order());
        Assert.DoesNotContain(handler.Applied, kv => kv.Value > 2);
        Assert.Equal(10, offsets[^1]);
    }

    [Fact]
    public async Task A_failing_handler_is_retried_with_backoff_until_it_succeeds()
    {
        var handler = new TwoStepHandler { FailuresLeft = 3 };
        var progress = new ProjectionProgress("t");
        await ProjectionStream.Restarting(handler, Journal(4), progress, Fast with { BatchSize = 10 })
            .TakeWhile(o => o < 4, inclusive: true)
            .RunWith(Sink.Ignore<long>(), Sys.Materializer());
        Assert.Equal(4, handler.StoredOffset);
        Assert.Equal(4, handler.Calls);
        Assert.IsType<InvalidOperationException>(progress.LastFailure);
        Assert.All(handler.Applied.Values, n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task Waiters_are_told_once_their_event_is_stored()
    {
        var handler = new TwoStepHandler();
        var progress = new ProjectionProgress("t");
        var third = progress.WhenProjected("p1", 3);
        var ninth = progress.WhenProjected("p1", 9);
        var reached = progress.WhenReached(7);
        Assert.False(third.IsCompleted);
        await ProjectionStream.Restarting(handler, Journal(8), progress, Fast with { BatchSize = 2 })
            .TakeWhile(o => o < 8, inclusive: true)
            .RunWith(Sink.Ignore<long>(), Sys.Materializer());
        await third.WaitAsync(TimeSpan.FromSeconds(3));
        await reached.WaitAsync(TimeSpan.FromSeconds(3));
        Assert.False(ninth.IsCompleted);
        progress.Cancel("p1");
        Assert.True(ninth.IsCanceled);
    }

    // ------------------------------------------------------------------ the email read side's handler

    private sealed class MemoryProjectionStore : IEmailProjectionStore
    {
        public readonly Dictionary<string, EmailView> Views = new();
        public readonly Dictionary<(string, string), Suppression> Suppressions = new();
        public long Offset;
        public int Stores;

        public Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default) => Task.FromResult(Offset);

        public Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
            long offset, CancellationToken ct = default)
        {
            Stores++;
            foreach (var v in views)
                if (!Views.TryGetValue(v.Id, out var old) || old.Version < v.Version) Views[v.Id] = v;
            foreach (var (user, s) in suppressions) Suppressions.TryAdd((user, Addresses.Normalize(s.Address)), s);
            Offset = offset;
            return Task.CompletedTask;
        }

        public Task ResetAsync(string projection, CancellationToken ct = default) => Task.CompletedTask;
    }

    private sealed class NoSuppressionStore : ISuppressionStore
    {
        public int Refreshes;
        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task AddAsync(string userId, Suppression suppression, CancellationToken ct = default) => Task.CompletedTask;
        public Task<Suppression?> GetAsync(string userId, string address, CancellationToken ct = default) => Task.FromResult<Suppression?>(null);
        public Task<bool> RemoveAsync(string userId, string address, CancellationToken ct = default) => Task.FromResult(false);
        public Task<int> HashAsync(string? userId, string address, CancellationToken ct = default) => Task.FromResult(0);
        public Task<IReadOnlyList<Suppression>> ListAsync(string userId, int limit, string? after, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<Suppression>>(Array.Empty<Suppression>());
        public Task<IReadOnlyDictionary<string, string>> FindAsync(string userId, IEnumerable<string> addresses, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());
        public Task RefreshAsync(string userId, CancellationToken ct = default)
        {
            Refreshes++;
            return Task.CompletedTask;
        }
    }

    /// <summary>One email's life: accepted, dispatched, started, sent, delivered to ann, bounced for bob.</summary>
    private static IEmailEvent[] Life(string id) => new IEmailEvent[]
    {
        new EmailAccepted(id, "u1", T.Content("ann@example.com", "bob@example.com"), T.T0),
        new EmailDispatched(id, 1, T.T0.AddSeconds(1)),
        new SendAttemptStarted(id, 1, T.T0.AddSeconds(2)),
        new EmailSent(id, 1, "<m-" + id + ">", T.T0.AddSeconds(3)),
        new ProviderEventRecorded(id, T.Pe("d-" + id, ProviderEventKind.Delivered, 4, "ann@example.com"), T.T0.AddSeconds(4)),
        new ProviderEventRecorded(id, T.Pe("b-" + id, ProviderEventKind.PermanentFailure, 5, "bob@example.com", reason: "no such user"), T.T0.AddSeconds(5)),
    };

    private static List<EventEnvelope> Envelopes(params string[] ids)
    {
        var list = new List<EventEnvelope>();
        var ordering = 0L;
        var lives = ids.Select(Life).ToList();
        // Interleaved, as concurrent emails are in the journal.
        for (var seq = 0; seq < 6; seq++)
            for (var i = 0; i < ids.Length; i++)
                list.Add(new EventEnvelope(Offset.Sequence(++ordering), "email-" + ids[i], seq + 1, lives[i][seq], ordering, Array.Empty<string>()));
        return list;
    }

    private static EmailState Folded(string id) => Life(id).Aggregate(EmailState.Empty(id), (s, e) => s.Apply(e));

    [Fact]
    public async Task The_read_side_stores_what_the_actor_recovers_to_and_a_batch_handed_over_twice_changes_nothing()
    {
        var store = new MemoryProjectionStore();
        var suppressions = new NoSuppressionStore();
        var journal = Envelopes("a", "b");
        var projection = new EmailReadSideProjection(store, suppressions, (_, _) => throw new InvalidOperationException("all states are cached"));
        foreach (var batch in journal.Chunk(4)) await projection.HandleAsync(batch, ((Sequence)batch[^1].Offset).Value, default);

        foreach (var id in new[] { "a", "b" })
            Assert.Equal(T.Json(EmailView.Of(Folded(id))), T.Json(store.Views[id]));
        Assert.Equal(new[] { ("u1", "bob@example.com") }, store.Suppressions.Keys.Distinct().ToArray());
        Assert.Equal(1, suppressions.Refreshes); // both bounces came in one batch, for one user

        // The last batch again (a crash between its store and the offset, on a store without transactions).
        var before = T.Json(store.Views);
        await projection.HandleAsync(journal.TakeLast(4).ToList(), 12, default);
        Assert.Equal(before, T.Json(store.Views));
    }

    [Fact]
    public async Task An_email_not_in_the_cache_is_folded_from_its_events_in_the_journal()
    {
        var store = new MemoryProjectionStore();
        var journal = Envelopes("a");
        var asked = new List<(string, long)>();
        // A new process: the cache is empty, the projection resumes at the 4th event.
        var projection = new EmailReadSideProjection(store, new NoSuppressionStore(), (pid, to) =>
        {
            asked.Add((pid, to));
            return Task.FromResult<IReadOnlyList<object>>(journal.Where(e => e.PersistenceId == pid && e.SequenceNr <= to).Select(e => e.Event).ToList());
        });
        await projection.HandleAsync(journal.Skip(3).ToList(), 6, default);
        Assert.Equal(new[] { ("email-a", 3L) }, asked);
        Assert.Equal(T.Json(EmailView.Of(Folded("a"))), T.Json(store.Views["a"]));
        Assert.Equal(1, projection.StatesRebuilt);
    }

    [Fact]
    public async Task An_email_whose_first_events_retention_deleted_is_folded_from_its_snapshot()
    {
        var store = new MemoryProjectionStore();
        var journal = Envelopes("a");
        // Retention replaced events 1-5 by a snapshot of the state after them (no bodies, marked so); event 6 came later.
        var compacted = journal.Take(5).Aggregate(EmailState.Empty("a"), (s, e) => s.Apply((IEmailEvent)e.Event)) with { BodiesRemovedAt = T.T0.AddDays(7) };
        var projection = new EmailReadSideProjection(store, new NoSuppressionStore(), (pid, to) =>
            Task.FromResult<IReadOnlyList<object>>(new object[] { compacted }));
        await projection.HandleAsync(journal.Skip(5).ToList(), 6, default);
        // The view carries the removal the snapshot records (the storage figures count its bodies as removed).
        Assert.Equal(T.Json(EmailView.Of(Folded("a") with { BodiesRemovedAt = T.T0.AddDays(7) })), T.Json(store.Views["a"]));
        Assert.Equal(T.T0.AddDays(7), store.Views["a"].BodiesRemovedAt);
        Assert.Equal(6, store.Views["a"].Version);
    }

    [Fact]
    public async Task A_live_email_is_taken_from_its_actor_s_published_state_without_folding_the_journal()
    {
        var store = new MemoryProjectionStore();
        var journal = Envelopes("a");
        var live = new AkkaMail.Actors.LiveEmailStates();
        var projection = new EmailReadSideProjection(store, new NoSuppressionStore(),
            (_, _) => throw new InvalidOperationException("a live email is never folded from the journal"), live: live);
        var life = Life("a");
        // The actor is past the first three events when the projection reads them: its state is stored as it is.
        live.Publish("a", life.Take(3).Aggregate(EmailState.Empty("a"), (s, e) => s.Apply(e)));
        await projection.HandleAsync(journal.Take(2).ToList(), 2, default);
        Assert.Equal(3, store.Views["a"].Version);
        // The projection was woken by a commit before the actor applied the event: applied to the actor's state.
        await projection.HandleAsync(journal.Skip(2).Take(2).ToList(), 4, default);
        Assert.Equal(4, store.Views["a"].Version);
        // The rest, the actor caught up: the view is the actor's, the bounce still suppresses.
        live.Publish("a", Folded("a"));
        await projection.HandleAsync(journal.Skip(4).ToList(), 6, default);
        Assert.Equal(T.Json(EmailView.Of(Folded("a"))), T.Json(store.Views["a"]));
        Assert.Single(store.Suppressions);
    }
}

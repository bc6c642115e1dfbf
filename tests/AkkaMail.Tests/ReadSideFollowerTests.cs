using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;
using Xunit;

namespace AkkaMail.Tests;

/// <summary>
/// Cluster mode with the read side run once per cluster: a node that does not run the projection follows it through
/// announcements (DistributedPubSub, here in a cluster of one) and through the stored offset (a real SQLite read
/// model); replies held for a suppressing change are released once the stored offset reaches that event's ordering in
/// the journal (here a table of orderings standing in for the journal's query).
/// </summary>
public sealed class ReadSideFollowerTests : Akka.TestKit.Xunit2.TestKit
{
    private const string ClusterOfOne = """
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.cluster.seed-nodes = []
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "akkamail-follower-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteEmailReadStore _store;
    // The journal as far as these tests need it: where each event is (absent: not persisted yet).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long), long> _journal = new();

    public ReadSideFollowerTests() : base(TestActorSystems.Create(ClusterOfOne + T.Hocon))
    {
        Directory.CreateDirectory(_dir);
        _store = new SqliteEmailReadStore(new SqliteDatabase(Path.Combine(_dir, "akkamail.db")));
        _store.InitializeAsync().GetAwaiter().GetResult();
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(20));
    }

    private Task<long?> OrderingOf(string persistenceId, long sequenceNr) =>
        Task.FromResult(_journal.TryGetValue((persistenceId, sequenceNr), out var o) ? o : (long?)null);

    private Akka.Actor.IActorRef Follower(ProjectionProgress progress, TimeSpan poll) =>
        Sys.ActorOf(ReadSideFollowerActor.Props(progress, _store, OrderingOf, poll));

    /// <summary>A batch stored with its offset, as the runner on another node would.</summary>
    private Task StoreAsync(long offset) => _store.StoreAsync(EmailReadSideProjection.Name, [], [], offset);

    [Fact]
    public async Task Without_announcements_it_follows_the_stored_offset_and_releases_a_wait_once_the_offset_passes_the_event()
    {
        var progress = new ProjectionProgress(EmailReadSideProjection.Name);
        var bounce = progress.WhenProjected("email-e1", 3);      // registered before the persist, as the email actor does
        var later = progress.WhenProjected("email-e1", 4);       // never persisted in this test
        await StoreAsync(5);
        Follower(progress, TimeSpan.FromMilliseconds(100));
        await progress.WhenReached(5).WaitAsync(TimeSpan.FromSeconds(10));

        _journal[("email-e1", 3)] = 12;                           // persisted at ordering 12
        await StoreAsync(11);
        await progress.WhenReached(11).WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);                                    // a few polls: 11 < 12, so the wait stays
        Assert.False(bounce.IsCompleted);

        await StoreAsync(12);
        await bounce.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(later.IsCompleted);
        Assert.Equal([("email-e1", 4L)], progress.WaitedEvents);
    }

    [Fact]
    public async Task An_announcement_moves_the_progress_at_once_and_an_older_one_never_moves_it_back()
    {
        var progress = new ProjectionProgress(EmailReadSideProjection.Name);
        // Polls only at start (offset 0 stored): anything later comes from announcements.
        Follower(progress, TimeSpan.FromHours(1));
        await progress.WhenReached(0).WaitAsync(TimeSpan.FromSeconds(10));

        var announce = ReadSideFollowerActor.Announce(Sys);
        // The subscription reaches the topic asynchronously: announce until it is heard.
        var reached = progress.WhenReached(42);
        for (var i = 0; i < 100 && !reached.IsCompleted; i++)
        {
            announce(42);
            await Task.WhenAny(reached, Task.Delay(100));
        }
        Assert.True(reached.IsCompleted, "the announcement was never heard");
        Assert.Equal(42, progress.Offset);

        announce(7);
        await Task.Delay(300);
        Assert.Equal(42, progress.Offset);
    }

    [Fact]
    public async Task An_announced_offset_releases_a_held_suppression_wait_without_waiting_for_the_next_poll()
    {
        var progress = new ProjectionProgress(EmailReadSideProjection.Name);
        Follower(progress, TimeSpan.FromHours(1));
        await progress.WhenReached(0).WaitAsync(TimeSpan.FromSeconds(10));
        var announce = ReadSideFollowerActor.Announce(Sys);
        var heard = progress.WhenReached(1);
        for (var i = 0; i < 100 && !heard.IsCompleted; i++)
        {
            announce(1);
            await Task.WhenAny(heard, Task.Delay(100));
        }

        var bounced = progress.WhenProjected("email-e2", 2);
        _journal[("email-e2", 2)] = 3;
        announce(2);
        await Task.Delay(300);
        Assert.False(bounced.IsCompleted);
        announce(3);
        await bounced.WaitAsync(TimeSpan.FromSeconds(10));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        _store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence;
using AkkaMail.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// The writer loop of AkkaMail.Persistence.Sqlite on its own: requests are queued before the loop starts, so
/// the batches it commits are known exactly.
/// </summary>
public sealed class SqliteWriterTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly SqliteDatabaseFixture _db = new();

    public void Dispose() => _db.Dispose();

    private SqliteJournalWriter NewWriter(int maxBatchSize = 500) =>
        new(SqliteJournalSettings.Create(ConfigurationFactory.ParseString($"""
            connection-string = "{_db.ConnectionString.Replace("\\", "\\\\")}"
            max-batch-size = {maxBatchSize}
            """)));

    private static WriteRequest Write(string persistenceId, long from, int count)
    {
        var rows = new JournalRow[count];
        for (var i = 0; i < count; i++)
            rows[i] = new JournalRow(persistenceId, from + i, DateTime.UtcNow.Ticks, "m", 4, [(byte)i], null, "writer");
        return new WriteRequest(rows, count, atomicWriteCount: 1, results: null);
    }

    private long[] SequenceNrs(string persistenceId)
    {
        using var connection = new SqliteConnection(_db.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT sequence_nr FROM journal WHERE persistence_id = $pid ORDER BY ordering;";
        command.Parameters.AddWithValue("$pid", persistenceId);
        using var reader = command.ExecuteReader();
        var result = new List<long>();
        while (reader.Read()) result.Add(reader.GetInt64(0));
        return result.ToArray();
    }

    [Fact]
    public async Task Commits_the_writes_of_many_callers_in_one_transaction()
    {
        using var writer = NewWriter();
        var requests = Enumerable.Range(0, 200).Select(i => Write($"group-{i}", 1, 3)).ToArray();
        foreach (var r in requests) Assert.True(writer.TryEnqueue(r));
        writer.Start();

        await Task.WhenAll(requests.Select(r => r.Completion.Task)).WaitAsync(Wait);
        Assert.Equal(1, writer.Transactions);
        Assert.Equal(0, writer.IsolatedRetries);
        for (var i = 0; i < 200; i++) Assert.Equal(new long[] { 1, 2, 3 }, SequenceNrs($"group-{i}"));
    }

    [Fact]
    public async Task A_transaction_holds_at_most_max_batch_size_AtomicWrites()
    {
        using var writer = NewWriter(maxBatchSize: 50);
        var requests = Enumerable.Range(0, 200).Select(i => Write($"cap-{i}", 1, 2)).ToArray();
        foreach (var r in requests) writer.TryEnqueue(r);
        writer.Start();

        await Task.WhenAll(requests.Select(r => r.Completion.Task)).WaitAsync(Wait);
        Assert.Equal(4, writer.Transactions);
    }

    [Fact]
    public async Task A_duplicate_fails_only_its_caller_while_the_rest_of_the_batch_is_committed()
    {
        using (var first = NewWriter())
        {
            var existing = Write("dup", 1, 3);
            first.TryEnqueue(existing);
            first.Start();
            await existing.Completion.Task.WaitAsync(Wait);
        }

        using var writer = NewWriter();
        var before = Enumerable.Range(0, 10).Select(i => Write($"ok-a-{i}", 1, 2)).ToArray();
        var duplicate = Write("dup", 3, 2); // 3 exists, 4 does not: the caller's write is all or nothing
        var after = Enumerable.Range(0, 10).Select(i => Write($"ok-b-{i}", 1, 2)).ToArray();
        foreach (var r in before) writer.TryEnqueue(r);
        writer.TryEnqueue(duplicate);
        foreach (var r in after) writer.TryEnqueue(r);
        writer.Start();

        var failure = await Assert.ThrowsAsync<DuplicateSequenceNumberException>(() => duplicate.Completion.Task.WaitAsync(Wait));
        Assert.Contains("'dup'", failure.Message);
        await Task.WhenAll(before.Concat(after).Select(r => r.Completion.Task)).WaitAsync(Wait);
        Assert.Equal(1, writer.IsolatedRetries); // it was in the same batch, retried one by one
        Assert.Equal(20, writer.Transactions);
        Assert.Equal(new long[] { 1, 2, 3 }, SequenceNrs("dup"));
        foreach (var id in before.Concat(after).Select(r => r.Rows[0].PersistenceId))
            Assert.Equal(new long[] { 1, 2 }, SequenceNrs(id));
    }

    [Fact]
    public async Task Stopping_commits_what_is_queued_then_refuses_new_writes()
    {
        var writer = NewWriter();
        var requests = Enumerable.Range(0, 100).Select(i => Write($"stop-{i}", 1, 1)).ToArray();
        foreach (var r in requests) writer.TryEnqueue(r);
        writer.Start();
        Assert.True(writer.Stop(Wait));

        Assert.All(requests, r => Assert.True(r.Completion.Task.IsCompletedSuccessfully));
        Assert.False(writer.TryEnqueue(Write("late", 1, 1)));
        Assert.Equal(new long[] { 1 }, SequenceNrs("stop-99"));
    }
}

/// <summary>A persistent actor that records the strings it persists (and recovers them from snapshot and journal).</summary>
internal sealed class Recorder : ReceivePersistentActor
{
    public sealed record PersistAll(string[] Events);

    /// <summary>Persist <see cref="Remaining"/> events one at a time (each after the previous one is stored).</summary>
    public sealed record PersistOneByOne(int Remaining, IActorRef ReplyTo);

    public sealed record Snapshot;

    public sealed record Done(string PersistenceId);

    public sealed record GetState;

    private List<string> _events = new();

    public Recorder(string persistenceId)
    {
        PersistenceId = persistenceId;
        Recover<SnapshotOffer>(o => _events = ((string[])o.Snapshot).ToList());
        Recover<string>(e => _events.Add(e));
        Command<PersistAll>(m =>
        {
            var sender = Sender;
            PersistAll(m.Events, _events.Add);
            DeferAsync(m, _ => sender.Tell(new Done(PersistenceId)));
        });
        Command<PersistOneByOne>(m =>
        {
            if (m.Remaining == 0)
            {
                m.ReplyTo.Tell(new Done(PersistenceId));
                return;
            }
            Persist($"e-{_events.Count + 1}", e =>
            {
                _events.Add(e);
                Self.Tell(m with { Remaining = m.Remaining - 1 });
            });
        });
        Command<Snapshot>(_ =>
        {
            SaveSnapshot(_events.ToArray());
            Become(() =>
            {
                var sender = Sender;
                Command<SaveSnapshotSuccess>(_ => { sender.Tell(new Done(PersistenceId)); UnbecomeStacked(); });
                Command<SaveSnapshotFailure>(f => throw f.Cause);
            });
        });
        Command<GetState>(_ => Sender.Tell(_events.ToArray()));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId) => Akka.Actor.Props.Create(() => new Recorder(persistenceId));
}

/// <summary>
/// Alone, after the other classes: the load tests below (hundreds of actors, 20,000 events) take both cores, and
/// beside them the time-bounded tests of other classes (15 s for a failure reply) were seen to flake.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeavyLoadCollection
{
    public const string Name = "sqlite-heavy-load";
}

/// <summary>AkkaMail.Persistence.Sqlite behind real persistent actors.</summary>
[Collection(HeavyLoadCollection.Name)]
public sealed class SqliteJournalTests(SqliteDatabaseFixture db, ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(db.Hocon.WithFallback(ContractConfig.Common), output: output),
        IClassFixture<SqliteDatabaseFixture>
{
    [Fact]
    public void Two_hundred_concurrent_writers_each_persist_three_events_and_recover_them_in_order()
    {
        var ids = Enumerable.Range(0, 200).Select(i => $"concurrent-{Guid.NewGuid():N}").ToArray();
        var probe = CreateTestProbe();
        var actors = ids.Select(id => Sys.ActorOf(Recorder.Props(id))).ToArray();
        foreach (var (actor, id) in actors.Zip(ids))
            actor.Tell(new Recorder.PersistAll([$"{id}/1", $"{id}/2", $"{id}/3"]), probe.Ref);
        var done = probe.ReceiveN(200, TimeSpan.FromSeconds(60)).Cast<Recorder.Done>().Select(d => d.PersistenceId);
        Assert.Equal(ids.OrderBy(x => x), done.OrderBy(x => x));

        foreach (var actor in actors)
        {
            Watch(actor);
            actor.Tell(PoisonPill.Instance);
            ExpectTerminated(actor);
        }

        foreach (var id in ids)
        {
            Sys.ActorOf(Recorder.Props(id)).Tell(new Recorder.GetState(), probe.Ref);
            Assert.Equal(new[] { $"{id}/1", $"{id}/2", $"{id}/3" }, probe.ExpectMsg<string[]>());
        }
    }

    [Fact]
    public void A_replay_sent_right_behind_writes_of_its_id_sees_them()
    {
        // A persistent actor restarted while its events are still queued must learn their sequence numbers, or it
        // would reuse them. The journal waits for that id's writes in flight (and only for those: a new id does
        // not wait for other ids' commits). Writes of 50 other ids queued ahead keep the writer busy.
        var journal = Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);
        var writer = CreateTestProbe();
        for (var round = 0; round < 20; round++)
        {
            var pid = $"behind-{Guid.NewGuid():N}";
            var writes = Enumerable.Range(0, 50)
                .Select(i => new AtomicWrite(new Persistent($"x{i}", 1, $"other-{Guid.NewGuid():N}", "", false, ActorRefs.NoSender, "w")))
                .Concat(Enumerable.Range(1, 5).Select(n => new AtomicWrite(new Persistent($"own{n}", n, pid, "", false, ActorRefs.NoSender, "w"))))
                .ToArray<IPersistentEnvelope>();
            journal.Tell(new WriteMessages(writes, writer.Ref, 1));
            var replayer = CreateTestProbe();
            journal.Tell(new ReplayMessages(0, long.MaxValue, 0, pid, replayer.Ref));
            Assert.Equal(5, replayer.ExpectMsg<RecoverySuccess>(TimeSpan.FromSeconds(15)).HighestSequenceNr);
            writer.ExpectMsg<WriteMessagesSuccessful>(TimeSpan.FromSeconds(15));
            writer.ReceiveN(55, TimeSpan.FromSeconds(15));
        }
    }

    [Fact]
    public async Task Events_and_snapshots_survive_a_new_actor_system_on_the_same_file()
    {
        var config = db.Hocon.WithFallback(ContractConfig.Common);
        var id = $"restart-{Guid.NewGuid():N}";

        var first = ActorSystem.Create("first", config);
        try
        {
            var recorder = first.ActorOf(Recorder.Props(id));
            await recorder.Ask<Recorder.Done>(new Recorder.PersistAll(["a", "b", "c"]), TimeSpan.FromSeconds(10));
            await recorder.Ask<Recorder.Done>(new Recorder.Snapshot(), TimeSpan.FromSeconds(10));
            await recorder.Ask<Recorder.Done>(new Recorder.PersistAll(["d"]), TimeSpan.FromSeconds(10));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("second", config);
        try
        {
            var recorder = second.ActorOf(Recorder.Props(id));
            Assert.Equal(new[] { "a", "b", "c", "d" }, await recorder.Ask<string[]>(new Recorder.GetState(), TimeSpan.FromSeconds(10)));
            // it goes on after the recovered sequence numbers (a reused one would be a duplicate and stop it)
            await recorder.Ask<Recorder.Done>(new Recorder.PersistAll(["e"]), TimeSpan.FromSeconds(10));
            Assert.Equal(new[] { "a", "b", "c", "d", "e" }, await recorder.Ask<string[]>(new Recorder.GetState(), TimeSpan.FromSeconds(10)));
        }
        finally
        {
            await second.Terminate();
        }

        // the snapshot was one of ours, in our table
        using var connection = new SqliteConnection(db.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT sequence_nr FROM snapshot WHERE persistence_id = $pid;";
        command.Parameters.AddWithValue("$pid", id);
        Assert.Equal(3L, command.ExecuteScalar());
    }
}

/// <summary><c>trust-new-id-recovery = off</c>: a recovery asking for nothing is not taken to mean a new id.</summary>
public sealed class SqliteJournalWithoutNewIdRecoveryTests(SqliteDatabaseFixture db, ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(
        ConfigurationFactory.ParseString("akka.persistence.journal.sqlite.trust-new-id-recovery = off")
            .WithFallback(db.Hocon).WithFallback(ContractConfig.Common), output: output),
        IClassFixture<SqliteDatabaseFixture>
{
    [Fact]
    public void A_recovery_asking_for_nothing_reads_the_highest_sequence_number()
    {
        var journal = Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);
        var pid = $"not-trusted-{Guid.NewGuid():N}";
        var writer = CreateTestProbe();
        journal.Tell(new WriteMessages(
            Enumerable.Range(1, 2)
                .Select(n => new AtomicWrite(new Persistent($"e-{n}", n, pid, "", false, ActorRefs.NoSender, "w")))
                .ToArray<IPersistentEnvelope>(),
            writer.Ref, 1));
        writer.ExpectMsg<WriteMessagesSuccessful>();

        var replayer = CreateTestProbe();
        journal.Tell(new ReplayMessages(1, 0, 0, pid, replayer.Ref));
        Assert.Equal(2, replayer.ExpectMsg<RecoverySuccess>().HighestSequenceNr);
    }
}

/// <summary>The plugin's HOCON and hosting registration.</summary>
public sealed class SqliteConfigurationTests
{
    [Fact]
    public void Reference_config_declares_both_plugins_with_their_defaults()
    {
        var config = SqlitePersistence.DefaultConfig();
        var journal = config.GetConfig(SqlitePersistence.JournalPluginId);
        Assert.Equal(typeof(SqliteJournal), Type.GetType(journal.GetString("class")));
        Assert.Equal("akka.actor.default-dispatcher", journal.GetString("plugin-dispatcher"));
        // One writer process per file: no replay filter (a child actor per recovery otherwise).
        Assert.Equal("off", journal.GetString("replay-filter.mode"));
        var snapshots = config.GetConfig(SqlitePersistence.SnapshotStorePluginId);
        Assert.Equal(typeof(SqliteSnapshotStore), Type.GetType(snapshots.GetString("class")));

        var settings = SqliteJournalSettings.Create(ConfigurationFactory.ParseString("connection-string = \"Data Source=x.db\""));
        Assert.Equal(("journal", "metadata", 500, TimeSpan.FromSeconds(10), true),
            (settings.TableName, settings.MetadataTableName, settings.MaxBatchSize, settings.CallTimeout, settings.AutoInitialize));
        Assert.Contains("Pooling=True", settings.ConnectionString);
        Assert.True(settings.TrustNewIdRecovery);
        Assert.Equal("snapshot", SqliteSnapshotSettings.Create(ConfigurationFactory.ParseString("connection-string = \"Data Source=x.db\"")).TableName);
    }

    [Fact]
    public void Missing_connection_string_or_an_unsafe_table_name_is_a_configuration_error()
    {
        Assert.Throws<ConfigurationException>(() => SqliteJournalSettings.Create(ConfigurationFactory.Empty));
        Assert.Throws<ConfigurationException>(() => SqliteJournalSettings.Create(ConfigurationFactory.ParseString(
            "connection-string = \"Data Source=x.db\"\ntable-name = \"j; DROP TABLE x\"")));
        Assert.Throws<ConfigurationException>(() => SqliteJournalSettings.Create(ConfigurationFactory.ParseString(
            "connection-string = \"Data Source=x.db\"\nmax-batch-size = 0")));
    }

    [Fact]
    public async Task Hosting_extension_registers_the_plugins_as_defaults()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, NoHostLifetime>();
        services.AddAkka("sqlite-hosting-test", b => b.WithSqliteJournal("Data Source=\"C:\\dir\\a.db\"", autoInitialize: false));
        await using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var h in hosted) await h.StartAsync(CancellationToken.None);
        try
        {
            var config = provider.GetRequiredService<ActorSystem>().Settings.Config;
            Assert.Equal(SqlitePersistence.JournalPluginId, config.GetString("akka.persistence.journal.plugin"));
            Assert.Equal(SqlitePersistence.SnapshotStorePluginId, config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Equal("Data Source=\"C:\\dir\\a.db\"", config.GetString("akka.persistence.journal.sqlite.connection-string"));
            Assert.False(config.GetBoolean("akka.persistence.snapshot-store.sqlite.auto-initialize"));
            Assert.Equal(500, config.GetInt("akka.persistence.journal.sqlite.max-batch-size"));
        }
        finally
        {
            foreach (var h in hosted) await h.StopAsync(CancellationToken.None);
        }

        Assert.False(SqlitePersistenceConfig.Create("Data Source=x.db", isDefaultPlugin: false).HasPath("akka.persistence.journal.plugin"));
    }

    private sealed class NoHostLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}

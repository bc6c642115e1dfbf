using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.TestKit;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Microsoft.Data.Sqlite;
using Xunit;
using static AkkaMail.Actors.PipelineMessages;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>
/// Recovery through a journal that really serializes (our SQLite journal, the embedded default), so
/// events and snapshots go through EmailEventSerializer and back, as in production.
/// </summary>
public sealed class SqliteRecoveryTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly string DbPath = Path.Combine(Path.GetTempPath(), $"akkamail-tests-{Guid.NewGuid():N}.db");

    public SqliteRecoveryTests() : base(TestActorSystems.Create(Config())) { }

    private static Config Config() =>
        AkkaMail.Persistence.Sqlite.SqlitePersistenceConfig.Create($"Data Source={DbPath}")
            .WithFallback(ConfigurationFactory.ParseString(T.Hocon.Replace("akka.persistence.", "# akka.persistence.")))
            .WithFallback(AkkaMail.Persistence.Sqlite.SqlitePersistence.DefaultConfig());

    protected override void AfterAll()
    {
        base.AfterAll();
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            try { File.Delete(DbPath + suffix); }
            catch (IOException) { /* best effort */ }
        }
    }

    [Fact]
    public void Events_and_snapshots_survive_a_real_journal()
    {
        var views = new ConcurrentQueue<EmailChanged>();
        var dispatcher = CreateTestProbe();
        var deps = new EmailActorDeps(Settings.Fast(snapshotEvery: 5), dispatcher.Ref, null, new FakeTimeProvider(T.T0));
        var props = EmailActor.Props("e1", deps);
        var actor = Sys.ActorOf(props);
        var content = T.Content("Ann <ann@example.com>", "a-b@example.com", "a_c@example.com", "ab@example.com") with
        {
            Attachments = new[] { new EmailAttachment("x.txt", "text/plain", "eA==") },
        };
        actor.Tell(new AcceptEmail("e1", "u1", content, "k", "fp"));
        ExpectMsg<R.EmailAccepted>(TimeSpan.FromSeconds(20));   // the first write creates the tables
        dispatcher.ExpectMsg<DispatchJob>();
        actor.Tell(new MarkDispatched("e1", 1));
        actor.Tell(new BeginSendAttempt("e1", 1));
        ExpectMsg<R.SendApproved>();
        actor.Tell(new RecordSendOutcome("e1", 1, new SendOutcome.Transient("busy", TimeSpan.FromSeconds(3))));
        ExpectMsg<R.OutcomeRecorded>();
        actor.Tell(new BeginSendAttempt("e1", 2));
        ExpectMsg<R.SendApproved>();
        actor.Tell(new RecordSendOutcome("e1", 2, new SendOutcome.Sent("pmid-1")));
        ExpectMsg<R.OutcomeRecorded>();
        var kinds = new[] { ProviderEventKind.Accepted, ProviderEventKind.Delivered, ProviderEventKind.Opened, ProviderEventKind.Clicked,
            ProviderEventKind.TemporaryFailure, ProviderEventKind.PermanentFailure, ProviderEventKind.Complained, ProviderEventKind.Unsubscribed };
        var n = 0;
        foreach (var to in new[] { "ann@example.com", "a-b@example.com", "a_c@example.com" })
            foreach (var kind in kinds)
            {
                actor.Tell(new ApplyProviderEvent("e1", T.Pe($"ev-{n}", kind, n++, to, url: "https://x.io", reason: "r", code: 421)));
                ExpectMsg(new R.ProviderEventApplied("e1", R.ProviderEventResult.Applied));
            }
        actor.Tell(new GetEmailState("e1"));
        var before = ExpectMsg<EmailState>();
        Assert.Equal(30, before.Version);   // 6 + 24
        Watch(actor);
        actor.Tell(PoisonPill.Instance);
        ExpectTerminated(actor);

        var snapshots = Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);
        AwaitAssert(() =>
        {
            snapshots.Tell(new LoadSnapshot("email-e1", SnapshotSelectionCriteria.Latest, long.MaxValue), TestActor);
            Assert.Equal(30, ExpectMsg<LoadSnapshotResult>().Snapshot?.Metadata.SequenceNr);
        });

        var again = Sys.ActorOf(props);
        again.Tell(new GetEmailState("e1"));
        var after = ExpectMsg<EmailState>();
        Assert.Equal(T.Json(before), T.Json(after));
        Assert.Equal(before.Recipients.Keys, after.Recipients.Keys);

        // Recovery without the snapshot (events only) agrees too.
        Watch(again);
        again.Tell(PoisonPill.Instance);
        ExpectTerminated(again);
        snapshots.Tell(new DeleteSnapshots("email-e1", SnapshotSelectionCriteria.Latest), TestActor);
        ExpectMsg<DeleteSnapshotsSuccess>();
        var third = Sys.ActorOf(props);
        third.Tell(new GetEmailState("e1"));
        Assert.Equal(T.Json(before), T.Json(ExpectMsg<EmailState>()));
    }
}

using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using AkkaMail.Persistence.MongoDb;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// The plugins loaded by Akka.Persistence from their HOCON, pointed at a closed loopback port: they start,
/// and every operation fails promptly with the protocol's failure reply instead of hanging.
/// </summary>
public sealed class MongoDbWithoutServerTests(ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(
        MongoDbPersistenceConfig.Create(
                "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
                "nowhere", callTimeout: TimeSpan.FromSeconds(2))
            .WithFallback(ContractConfig.Common),
        output: output)
{
    private IActorRef Journal => Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);

    private IActorRef SnapshotStore => Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);

    [Fact]
    public void Journal_write_fails_with_WriteMessagesFailed()
    {
        var probe = CreateTestProbe();
        var p = new Persistent("x", 1, "pid", string.Empty, false, ActorRefs.NoSender, "w");
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(p) }, probe.Ref, 1));
        probe.ExpectMsg<WriteMessagesFailed>(TimeSpan.FromSeconds(15));
        probe.ExpectMsg<WriteMessageFailure>(m => m.Persistent.SequenceNr == 1);
    }

    [Fact]
    public void Journal_replay_fails_with_ReplayMessagesFailure()
    {
        var probe = CreateTestProbe();
        Journal.Tell(new ReplayMessages(1, long.MaxValue, long.MaxValue, "pid", probe.Ref));
        probe.ExpectMsg<ReplayMessagesFailure>(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public void Journal_delete_fails_with_DeleteMessagesFailure()
    {
        var probe = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo("pid", 3, probe.Ref));
        probe.ExpectMsg<DeleteMessagesFailure>(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public void Snapshot_load_and_save_fail_with_their_failure_replies()
    {
        SnapshotStore.Tell(new LoadSnapshot("pid", SnapshotSelectionCriteria.Latest, long.MaxValue), TestActor);
        ExpectMsg<LoadSnapshotFailed>(TimeSpan.FromSeconds(15));
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata("pid", 1, DateTime.MinValue), "s"), TestActor);
        ExpectMsg<SaveSnapshotFailure>(TimeSpan.FromSeconds(15));
    }
}

using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.TestKit;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// What every snapshot store backend must do (our stand-in for Akka.Persistence.TCK's SnapshotStoreSpec):
/// it talks to the default snapshot store plugin actor directly. Each test saves s-1..s-5 at sequence
/// numbers 11..15 under its own persistence id.
/// </summary>
public abstract class SnapshotStoreContract : Akka.TestKit.Xunit2.TestKit
{
    private readonly TestProbe _probe;

    protected SnapshotStoreContract(Config backend, ITestOutputHelper output)
        : base(backend.WithFallback(ContractConfig.Common), output: output)
    {
        _probe = CreateTestProbe();
    }

    /// <summary>Skips the test (with the reason) when the backend is not available.</summary>
    protected virtual void SkipIfUnavailable()
    {
    }

    protected string Pid { get; } = $"snapshot-contract-{Guid.NewGuid():N}";

    protected IActorRef SnapshotStore => Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);

    /// <summary>The metadata of s-1..s-5 as the store acknowledged them (with their timestamps).</summary>
    protected List<SnapshotMetadata> Saved { get; } = new();

    private void SaveFive()
    {
        for (var i = 1; i <= 5; i++)
        {
            SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 10 + i, DateTime.MinValue), $"s-{i}"), _probe.Ref);
            Saved.Add(_probe.ExpectMsg<SaveSnapshotSuccess>().Metadata);
        }
    }

    private LoadSnapshotResult Load(SnapshotSelectionCriteria criteria, long toSequenceNr = long.MaxValue, string? pid = null)
    {
        SnapshotStore.Tell(new LoadSnapshot(pid ?? Pid, criteria, toSequenceNr), _probe.Ref);
        var reply = _probe.ExpectMsg<object>();
        return reply switch
        {
            LoadSnapshotResult r => r,
            LoadSnapshotFailed f => throw new Xunit.Sdk.XunitException($"Load failed: {f.Cause}"),
            _ => throw new Xunit.Sdk.XunitException($"Unexpected reply {reply}"),
        };
    }

    private void AssertLoaded(LoadSnapshotResult result, int index, long toSequenceNr = long.MaxValue)
    {
        Assert.Equal(toSequenceNr, result.ToSequenceNr);
        Assert.NotNull(result.Snapshot);
        Assert.Equal(Saved[index], result.Snapshot.Metadata); // persistence id, sequence nr and timestamp
        Assert.Equal($"s-{index + 1}", result.Snapshot.Snapshot);
    }

    [SkippableFact]
    public void Loads_nothing_for_an_unknown_persistence_id()
    {
        SkipIfUnavailable();
        SaveFive();
        var result = Load(SnapshotSelectionCriteria.Latest, pid: $"unknown-{Guid.NewGuid():N}");
        Assert.Null(result.Snapshot);
        Assert.Equal(long.MaxValue, result.ToSequenceNr);
    }

    [SkippableFact]
    public void Loads_nothing_when_the_timestamp_criteria_exclude_all()
    {
        SkipIfUnavailable();
        SaveFive();
        Assert.Null(Load(new SnapshotSelectionCriteria(long.MaxValue, new DateTime(100000))).Snapshot);
    }

    [SkippableFact]
    public void Loads_nothing_when_the_sequence_number_criteria_exclude_all()
    {
        SkipIfUnavailable();
        SaveFive();
        Assert.Null(Load(new SnapshotSelectionCriteria(7)).Snapshot);
        var limited = Load(SnapshotSelectionCriteria.Latest, toSequenceNr: 7);
        Assert.Null(limited.Snapshot);
        Assert.Equal(7, limited.ToSequenceNr);
        Assert.Null(Load(SnapshotSelectionCriteria.None).Snapshot);
    }

    [SkippableFact]
    public void Saves_and_loads_the_latest_snapshot()
    {
        SkipIfUnavailable();
        SaveFive();
        AssertLoaded(Load(SnapshotSelectionCriteria.Latest), 4);
    }

    [SkippableFact]
    public void Loads_the_latest_snapshot_within_a_maximum_sequence_number()
    {
        SkipIfUnavailable();
        SaveFive();
        AssertLoaded(Load(new SnapshotSelectionCriteria(13)), 2);
        AssertLoaded(Load(SnapshotSelectionCriteria.Latest, toSequenceNr: 13), 2, toSequenceNr: 13);
    }

    [SkippableFact]
    public void Loads_the_latest_snapshot_within_a_maximum_sequence_number_and_timestamp()
    {
        SkipIfUnavailable();
        SaveFive();
        AssertLoaded(Load(new SnapshotSelectionCriteria(13, Saved[2].Timestamp)), 2);
        AssertLoaded(Load(new SnapshotSelectionCriteria(long.MaxValue, Saved[2].Timestamp), toSequenceNr: 13), 2, toSequenceNr: 13);
        // a maximum timestamp alone
        AssertLoaded(Load(new SnapshotSelectionCriteria(long.MaxValue, Saved[3].Timestamp)), 3);
    }

    [SkippableFact]
    public void Deletes_a_single_snapshot()
    {
        SkipIfUnavailable();
        SaveFive();
        var md = new SnapshotMetadata(Pid, Saved[2].SequenceNr, DateTime.MinValue); // no timestamp: identified by sequence nr
        SnapshotStore.Tell(new DeleteSnapshot(md), _probe.Ref);
        _probe.ExpectMsg<DeleteSnapshotSuccess>();

        AssertLoaded(Load(new SnapshotSelectionCriteria(md.SequenceNr)), 1);
        AssertLoaded(Load(SnapshotSelectionCriteria.Latest), 4);
    }

    [SkippableFact]
    public void Deletes_the_snapshots_matching_criteria()
    {
        SkipIfUnavailable();
        SaveFive();
        var md = Saved[2];
        var criteria = new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp);
        SnapshotStore.Tell(new DeleteSnapshots(Pid, criteria), _probe.Ref);
        _probe.ExpectMsg<DeleteSnapshotsSuccess>(m => m.Criteria.Equals(criteria));

        Assert.Null(Load(criteria).Snapshot);
        AssertLoaded(Load(new SnapshotSelectionCriteria(Saved[3].SequenceNr, Saved[3].Timestamp)), 3);
        AssertLoaded(Load(SnapshotSelectionCriteria.Latest), 4);
    }

    [SkippableFact]
    public void Does_not_delete_snapshots_outside_the_timestamp_bound()
    {
        SkipIfUnavailable();
        SaveFive();
        var md = Saved[3];
        var criteria = new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp.Subtract(TimeSpan.FromTicks(1)));
        SnapshotStore.Tell(new DeleteSnapshots(Pid, criteria), _probe.Ref);
        _probe.ExpectMsg<DeleteSnapshotsSuccess>(m => m.Criteria.Equals(criteria));

        AssertLoaded(Load(new SnapshotSelectionCriteria(md.SequenceNr, md.Timestamp)), 3);
        Assert.Null(Load(new SnapshotSelectionCriteria(Saved[2].SequenceNr, Saved[2].Timestamp)).Snapshot);
    }

    [SkippableFact]
    public void Overwrites_a_snapshot_saved_again_with_the_same_sequence_number()
    {
        SkipIfUnavailable();
        SaveFive();
        var md = Saved[4];
        SnapshotStore.Tell(new SaveSnapshot(md, "s-5-modified"), _probe.Ref);
        Assert.Equal(md.SequenceNr, _probe.ExpectMsg<SaveSnapshotSuccess>().Metadata.SequenceNr);
        var result = Load(new SnapshotSelectionCriteria(md.SequenceNr));
        Assert.Equal("s-5-modified", result.Snapshot!.Snapshot);
        Assert.Equal(md.SequenceNr, result.Snapshot.Metadata.SequenceNr);
    }

    [SkippableFact]
    public void Saves_and_loads_a_bigger_snapshot()
    {
        SkipIfUnavailable();
        var big = new byte[100_000];
        new Random(42).NextBytes(big);
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 100, DateTime.MinValue), big), _probe.Ref);
        _probe.ExpectMsg<SaveSnapshotSuccess>();
        Assert.Equal(big, Assert.IsType<byte[]>(Load(SnapshotSelectionCriteria.Latest).Snapshot!.Snapshot));
    }

    [SkippableFact]
    public void Round_trips_a_snapshot_through_its_custom_serializer_with_manifest()
    {
        SkipIfUnavailable();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 42, DateTime.MinValue), new ContractEvent("state")), _probe.Ref);
        var saved = _probe.ExpectMsg<SaveSnapshotSuccess>().Metadata;

        var result = Load(SnapshotSelectionCriteria.Latest);
        Assert.Equal(saved, result.Snapshot!.Metadata);
        var back = Assert.IsType<ContractEvent>(result.Snapshot.Snapshot);
        Assert.Equal("state", back.Value);
        Assert.Equal($"{nameof(ContractSerializer)}:{ContractSerializer.EventManifest}", back.DecodedBy);
    }

    [SkippableFact]
    public void Fails_to_save_a_snapshot_that_cannot_be_serialized()
    {
        SkipIfUnavailable();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(Pid, 1, DateTime.MinValue), new Unserializable("x")), _probe.Ref);
        _probe.ExpectMsg<SaveSnapshotFailure>(m => m.Metadata.SequenceNr == 1);
        Assert.Null(Load(SnapshotSelectionCriteria.Latest).Snapshot);
    }
}

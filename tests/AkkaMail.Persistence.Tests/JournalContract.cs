using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.TestKit;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>
/// What every journal backend must do (our stand-in for Akka.Persistence.TCK's JournalSpec): it talks to
/// the default journal plugin actor directly with the journal protocol messages.
/// Each test uses its own persistence id, so tests of one class share a database safely.
/// </summary>
public abstract class JournalContract : Akka.TestKit.Xunit2.TestKit
{
    private const int ActorInstanceId = 1;

    protected JournalContract(Config backend, ITestOutputHelper output)
        : base(backend.WithFallback(ContractConfig.Common), output: output)
    {
    }

    /// <summary>Skips the test (with the reason) when the backend is not available.</summary>
    protected virtual void SkipIfUnavailable()
    {
    }

    /// <summary>Whether a replayed event carries the writer guid of the <see cref="Persistent"/> that was written. Akka's
    /// replay filter only needs the writers of one persistence id told apart; Akka.Persistence.Sql stores the journal
    /// instance's own id in its writer_uuid column instead (distinct per process), which serves it as well.</summary>
    protected virtual bool ReplaysTheWrittenWriterGuid => true;

    protected string Pid { get; } = $"journal-contract-{Guid.NewGuid():N}";

    protected string WriterGuid { get; } = Guid.NewGuid().ToString();

    protected IActorRef Journal => Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null);

    private Persistent Event(object payload, long seqNr, string? pid = null) =>
        new(payload, seqNr, pid ?? Pid, string.Empty, false, ActorRefs.NoSender, WriterGuid);

    /// <summary>Writes a-1..a-5, the last two in one AtomicWrite, and checks the replies.</summary>
    private void WriteFive()
    {
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(
            new IPersistentEnvelope[]
            {
                new AtomicWrite(Event("a-1", 1)),
                new AtomicWrite(Event("a-2", 2)),
                new AtomicWrite(Event("a-3", 3)),
                new AtomicWrite(ImmutableList.Create<IPersistentRepresentation>(Event("a-4", 4), Event("a-5", 5))),
            },
            probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        for (var i = 1; i <= 5; i++)
        {
            var n = i;
            probe.ExpectMsg<WriteMessageSuccess>(m =>
                m.Persistent.SequenceNr == n && (string)m.Persistent.Payload == $"a-{n}" && m.Persistent.PersistenceId == Pid);
        }
    }

    /// <summary>Replays and returns the replayed sequence numbers and the highest sequence number.</summary>
    private (List<IPersistentRepresentation> Replayed, long Highest) Replay(long from, long to, long max, string? pid = null)
    {
        var probe = CreateTestProbe();
        Journal.Tell(new ReplayMessages(from, to, max, pid ?? Pid, probe.Ref));
        var replayed = new List<IPersistentRepresentation>();
        while (true)
        {
            var msg = probe.ExpectMsg<object>();
            switch (msg)
            {
                case ReplayedMessage r:
                    replayed.Add(r.Persistent);
                    break;
                case RecoverySuccess s:
                    probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
                    return (replayed, s.HighestSequenceNr);
                case ReplayMessagesFailure f:
                    throw new Xunit.Sdk.XunitException($"Replay failed: {f.Cause}");
                default:
                    throw new Xunit.Sdk.XunitException($"Unexpected reply {msg}");
            }
        }
    }

    private static long[] SeqNrs(List<IPersistentRepresentation> replayed) => replayed.Select(p => p.SequenceNr).ToArray();

    private void DeleteTo(long toSequenceNr)
    {
        var probe = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(Pid, toSequenceNr, probe.Ref));
        probe.ExpectMsg<DeleteMessagesSuccess>(m => m.ToSequenceNr == toSequenceNr);
    }

    [SkippableFact]
    public void Writes_and_replays_all_messages_in_order()
    {
        SkipIfUnavailable();
        WriteFive();
        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, SeqNrs(replayed));
        Assert.Equal(new[] { "a-1", "a-2", "a-3", "a-4", "a-5" }, replayed.Select(p => (string)p.Payload));
        Assert.All(replayed, p =>
        {
            Assert.Equal(Pid, p.PersistenceId);
            Assert.False(p.IsDeleted);
            if (ReplaysTheWrittenWriterGuid) Assert.Equal(WriterGuid, p.WriterGuid);
            else Assert.False(string.IsNullOrEmpty(p.WriterGuid));
        });
        Assert.Equal(5, highest);
    }

    [SkippableTheory]
    [InlineData(3, long.MaxValue, long.MaxValue, new long[] { 3, 4, 5 })] // lower bound
    [InlineData(1, 3, long.MaxValue, new long[] { 1, 2, 3 })] // upper bound
    [InlineData(1, long.MaxValue, 3, new long[] { 1, 2, 3 })] // count limit
    [InlineData(2, 3, long.MaxValue, new long[] { 2, 3 })] // lower and upper bound
    [InlineData(2, 5, 2, new long[] { 2, 3 })] // bounds and count limit
    [InlineData(2, 2, long.MaxValue, new long[] { 2 })] // lower == upper
    [InlineData(2, 4, 1, new long[] { 2 })] // count limit 1
    [InlineData(2, 4, 0, new long[0])] // count limit 0
    [InlineData(3, 2, long.MaxValue, new long[0])] // lower > upper
    public void Replays_within_bounds_and_count_limit(long from, long to, long max, long[] expected)
    {
        SkipIfUnavailable();
        WriteFive();
        var (replayed, highest) = Replay(from, to, max);
        Assert.Equal(expected, SeqNrs(replayed));
        Assert.All(replayed, p => Assert.Equal($"a-{p.SequenceNr}", (string)p.Payload));
        Assert.Equal(5, highest);
    }

    [SkippableFact]
    public void Replays_nothing_when_from_is_beyond_the_highest_sequence_number()
    {
        SkipIfUnavailable();
        WriteFive();
        var (replayed, highest) = Replay(6, long.MaxValue, long.MaxValue);
        Assert.Empty(replayed);
        // The journal is asked for the highest sequence number with the hint from - 1 = 5. A journal may answer 0
        // when nothing lies beyond the hint (the actor keeps the max of it and its own); ours answer 5.
        Assert.Contains(highest, new long[] { 0, 5 });
    }

    [SkippableFact]
    public void Replays_nothing_for_an_unknown_persistence_id()
    {
        SkipIfUnavailable();
        var (replayed, highest) = Replay(0, long.MaxValue, long.MaxValue, pid: $"unknown-{Guid.NewGuid():N}");
        Assert.Empty(replayed);
        Assert.Equal(0, highest);
    }

    [SkippableFact]
    public void Reports_the_highest_sequence_number_after_writes()
    {
        SkipIfUnavailable();
        WriteFive();
        Assert.Equal(5, Replay(0, long.MaxValue, 0).Highest);

        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(
            new IPersistentEnvelope[] { new AtomicWrite(Event("a-6", 6)), new AtomicWrite(Event("a-7", 7)) },
            probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 6);
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 7);
        Assert.Equal(7, Replay(0, long.MaxValue, 0).Highest);
        // the from hint does not cap the answer
        Assert.Equal(7, Replay(3, 3, 0).Highest);
    }

    [SkippableFact]
    public void Does_not_replay_deleted_messages_and_keeps_the_highest_sequence_number()
    {
        SkipIfUnavailable();
        WriteFive();
        DeleteTo(3);
        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(new long[] { 4, 5 }, SeqNrs(replayed));
        Assert.Equal(5, highest);

        // deleting again, a smaller range, changes nothing
        DeleteTo(2);
        Assert.Equal(new long[] { 4, 5 }, SeqNrs(Replay(1, long.MaxValue, long.MaxValue).Replayed));
    }

    [SkippableFact]
    public void Keeps_the_highest_sequence_number_after_deleting_all_messages()
    {
        SkipIfUnavailable();
        WriteFive();
        DeleteTo(long.MaxValue);
        var (replayed, highest) = Replay(0, long.MaxValue, long.MaxValue);
        Assert.Empty(replayed);
        Assert.Equal(5, highest);

        // the actor goes on from 6
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(Event("a-6", 6)) }, probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 6);
        (replayed, highest) = Replay(0, long.MaxValue, long.MaxValue);
        Assert.Equal(new long[] { 6 }, SeqNrs(replayed));
        Assert.Equal(6, highest);
    }

    [SkippableFact]
    public void Deleting_beyond_the_highest_sequence_number_keeps_it()
    {
        SkipIfUnavailable();
        WriteFive();
        DeleteTo(100);
        var (replayed, highest) = Replay(0, long.MaxValue, long.MaxValue);
        Assert.Empty(replayed);
        Assert.Equal(5, highest);
    }

    [SkippableFact]
    public void Rejects_a_non_serializable_payload_while_the_rest_of_the_batch_succeeds()
    {
        SkipIfUnavailable();
        WriteFive();
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(
            new IPersistentEnvelope[]
            {
                new AtomicWrite(Event("b-6", 6)),
                new AtomicWrite(Event(new Unserializable("b-7"), 7)),
                new AtomicWrite(Event("b-8", 8)),
            },
            probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 6 && (string)m.Persistent.Payload == "b-6");
        probe.ExpectMsg<WriteMessageRejected>(m =>
            m.Persistent.SequenceNr == 7 && m.Persistent.Payload is Unserializable && m.Cause != null);
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 8 && (string)m.Persistent.Payload == "b-8");

        var (replayed, _) = Replay(6, long.MaxValue, long.MaxValue);
        Assert.Equal(new long[] { 6, 8 }, SeqNrs(replayed));
    }

    [SkippableFact]
    public void Writes_an_AtomicWrite_of_several_events_and_replays_them_in_order()
    {
        SkipIfUnavailable();
        var events = Enumerable.Range(1, 4).Select(i => (IPersistentRepresentation)Event($"e-{i}", i)).ToImmutableList();
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(events) }, probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        for (var i = 1; i <= 4; i++)
        {
            var n = i;
            probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == n && (string)m.Persistent.Payload == $"e-{n}");
        }

        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(new[] { "e-1", "e-2", "e-3", "e-4" }, replayed.Select(p => (string)p.Payload));
        Assert.Equal(4, highest);
    }

    [SkippableFact]
    public void Fails_a_write_of_a_sequence_number_that_already_exists()
    {
        SkipIfUnavailable();
        WriteFive();
        ExpectDuplicateWriteRefused(Event("dup-3", 3));

        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(new[] { "a-1", "a-2", "a-3", "a-4", "a-5" }, replayed.Select(p => (string)p.Payload));
        Assert.Equal(5, highest);
    }

    private void ExpectDuplicateWriteRefused(Persistent duplicate)
    {
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(duplicate) }, probe.Ref, ActorInstanceId));

        // A backend may reject the AtomicWrite (Successful + Rejected) or fail the batch (Failed + Failure).
        var first = probe.ExpectMsg<object>();
        Assert.True(first is WriteMessagesSuccessful or WriteMessagesFailed, $"unexpected {first}");
        var second = probe.ExpectMsg<object>();
        switch (second)
        {
            case WriteMessageRejected r:
                Assert.Equal(duplicate.SequenceNr, r.Persistent.SequenceNr);
                break;
            case WriteMessageFailure f:
                Assert.Equal(duplicate.SequenceNr, f.Persistent.SequenceNr);
                break;
            default:
                Assert.Fail($"expected a rejection or failure of the duplicate write, got {second}");
                break;
        }
    }

    /// <summary>Persists, defers and persists again in one command: the journal gets one batch holding a deferred message.</summary>
    private sealed class DeferringActor(string persistenceId, IActorRef probe) : UntypedPersistentActor
    {
        public override string PersistenceId => persistenceId;

        protected override void OnRecover(object message) { }

        protected override void OnCommand(object message)
        {
            Persist($"{message}-1", e => probe.Tell((e, Sender)));
            DeferAsync($"{message}-deferred", d => probe.Tell((d, Sender)));
            Persist($"{message}-2", e => probe.Tell((e, Sender)));
        }
    }

    [SkippableFact]
    public void A_persistent_actor_gets_its_persists_and_deferred_messages_back_in_order_with_their_sender()
    {
        SkipIfUnavailable();
        var probe = CreateTestProbe();
        var sender = CreateTestProbe();
        var actor = Sys.ActorOf(Props.Create(() => new DeferringActor(Pid, probe.Ref)));
        actor.Tell("x", sender.Ref);
        actor.Tell("y", sender.Ref);
        foreach (var expected in new[] { "x-1", "x-deferred", "x-2", "y-1", "y-deferred", "y-2" })
            probe.ExpectMsg<(string, IActorRef)>(m => m.Item1 == expected && m.Item2.Equals(sender.Ref));
        Assert.Equal(new[] { "x-1", "x-2", "y-1", "y-2" },
            Replay(1, long.MaxValue, long.MaxValue).Replayed.Select(p => (string)p.Payload));
    }

    // new Recovery(SnapshotSelectionCriteria.None, toSequenceNr: 0, replayMax: 0): the recovery of an id minted just now.
    [SkippableFact]
    public void A_recovery_asking_for_nothing_of_a_new_id_answers_highest_zero_and_its_writes_start_at_one()
    {
        SkipIfUnavailable();
        var pid = $"new-{Guid.NewGuid():N}";
        var (replayed, highest) = Replay(1, 0, 0, pid);
        Assert.Empty(replayed);
        Assert.Equal(0, highest);

        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(Event("n-1", 1, pid)) }, probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 1);
        Assert.Equal(new[] { "n-1" }, Replay(1, long.MaxValue, long.MaxValue, pid).Replayed.Select(p => (string)p.Payload));
    }

    [SkippableFact]
    public void A_recovery_asking_for_nothing_is_trusted_to_mean_a_new_id_and_a_wrong_one_fails_at_its_first_write()
    {
        SkipIfUnavailable();
        WriteFive();
        // Answered without a read: a journal that read would say 5.
        Assert.Equal(0, Replay(1, 0, 0).Highest);

        // The actor would now write sequence number 1 again: refused, nothing overwritten.
        ExpectDuplicateWriteRefused(Event("again-1", 1));
        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(new[] { "a-1", "a-2", "a-3", "a-4", "a-5" }, replayed.Select(p => (string)p.Payload));
        Assert.Equal(5, highest);
    }

    [SkippableFact]
    public void Round_trips_a_payload_through_its_custom_serializer_with_manifest()
    {
        SkipIfUnavailable();
        var probe = CreateTestProbe();
        var evt = new ContractEvent("hello, journal");
        Journal.Tell(new WriteMessages(new IPersistentEnvelope[] { new AtomicWrite(Event(evt, 1)) }, probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => ReferenceEquals(m.Persistent.Payload, evt));

        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue);
        var back = Assert.IsType<ContractEvent>(Assert.Single(replayed).Payload);
        Assert.Equal("hello, journal", back.Value);
        Assert.Equal($"{nameof(ContractSerializer)}:{ContractSerializer.EventManifest}", back.DecodedBy);
        Assert.Equal(1, highest);
    }

    [SkippableFact]
    public void Replays_the_payload_of_a_tagged_event_without_its_tags_wrapper()
    {
        SkipIfUnavailable();
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(
            new IPersistentEnvelope[]
            {
                new AtomicWrite(Event(new Akka.Persistence.Journal.Tagged("t-1", new[] { "red", "blue" }), 1)),
                new AtomicWrite(Event(new Akka.Persistence.Journal.Tagged(new ContractEvent("t-2"), new[] { "red" }), 2)),
            },
            probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 1);
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.SequenceNr == 2);

        var (replayed, _) = Replay(1, long.MaxValue, long.MaxValue);
        Assert.Equal(2, replayed.Count);
        Assert.Equal("t-1", replayed[0].Payload);
        Assert.Equal("t-2", Assert.IsType<ContractEvent>(replayed[1].Payload).Value);
    }

    [SkippableFact]
    public void Keeps_persistence_ids_apart()
    {
        SkipIfUnavailable();
        WriteFive();
        var other = $"{Pid}-other";
        var probe = CreateTestProbe();
        Journal.Tell(new WriteMessages(
            new IPersistentEnvelope[] { new AtomicWrite(Event("o-1", 1, other)), new AtomicWrite(Event("a-6", 6)) },
            probe.Ref, ActorInstanceId));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.PersistenceId == other);
        probe.ExpectMsg<WriteMessageSuccess>(m => m.Persistent.PersistenceId == Pid && m.Persistent.SequenceNr == 6);

        var (replayed, highest) = Replay(1, long.MaxValue, long.MaxValue, other);
        Assert.Equal(new[] { "o-1" }, replayed.Select(p => (string)p.Payload));
        Assert.Equal(1, highest);
        Assert.Equal(6, Replay(1, long.MaxValue, 0).Highest);
    }
}

using System.Collections.Concurrent;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The retention job with fakes around it: what it does with its emails' answers, as a run that follows a crash
/// finds them.</summary>
public class RetentionJobTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly RetentionPolicy Policy = new(TimeSpan.FromDays(7), TimeSpan.FromDays(90));
    private readonly FakeTimeProvider _clock = new(T.T0.AddDays(100));

    public RetentionJobTests() : base(TestActorSystems.Create(T.Hocon)) { }

    /// <summary>Settled emails (all long ago), and what the job deleted and marked.</summary>
    private sealed class SettledStore(params string[] ids) : IEmailReadStore, IEmailProjectionStore
    {
        public readonly ConcurrentQueue<string> Deleted = new();

        public Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default)
        {
            IReadOnlyList<SettledPosition> page = ids.Select(id => new SettledPosition(T.T0.ToUnixTimeMilliseconds(), id))
                .Where(p => p.SettledAtMs > after.SettledAtMs || (p.SettledAtMs == after.SettledAtMs && string.CompareOrdinal(p.Id, after.Id) > 0))
                .Where(p => p.SettledAtMs <= upTo.ToUnixTimeMilliseconds() && !Deleted.Contains(p.Id)).Take(limit).ToList();
            return Task.FromResult(page);
        }

        public Task DeleteAsync(IReadOnlyCollection<string> deleted, CancellationToken ct = default)
        {
            foreach (var id in deleted) Deleted.Enqueue(id);
            return Task.CompletedTask;
        }

        public Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default) => Task.FromResult(0L);
        public Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
            long offset, CancellationToken ct = default) => Task.CompletedTask;
        public Task ResetAsync(string projection, CancellationToken ct = default) => throw new NotSupportedException();
        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailView?> GetAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
            CancellationToken ct = default) => throw new NotSupportedException();
        public Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default) =>
            throw new NotSupportedException();
    }

    /// <summary>The email manager: answers each ApplyRetention as <paramref name="answer"/> says.</summary>
    private sealed class Manager : ReceiveActor
    {
        public Manager(Func<string, R.RetentionApplied> answer) =>
            Receive<EmailCommands.ApplyRetention>(r => Sender.Tell(answer(r.EmailId)));
    }

    private (RetentionRun Run, SettledStore Store, int Checkpoints, IReadOnlyCollection<string> Marked, IReadOnlyCollection<string> Outbox) Run(
        Func<string, R.RetentionApplied> answer, params string[] ids) => Run(Policy, answer, ids);

    private (RetentionRun Run, SettledStore Store, int Checkpoints, IReadOnlyCollection<string> Marked, IReadOnlyCollection<string> Outbox) Run(
        RetentionPolicy policy, Func<string, R.RetentionApplied> answer, params string[] ids)
    {
        var store = new SettledStore(ids);
        var checkpoints = 0;
        var marked = new ConcurrentQueue<string>();
        var outbox = new ConcurrentQueue<string>();
        Action<string> removeOutboxFiles = outbox.Enqueue;
        Func<Task> checkpoint = () => { Interlocked.Increment(ref checkpoints); return Task.CompletedTask; };
        Func<IReadOnlyCollection<string>, DateTimeOffset, Task> mark = (m, _) => { foreach (var id in m) marked.Enqueue(id); return Task.CompletedTask; };
        var manager = Sys.ActorOf(Props.Create(() => new Manager(answer)));
        var job = Sys.ActorOf(Props.Create(() => new RetentionActor(policy, store, store, manager, _clock, TimeSpan.FromHours(1), 10,
            TimeSpan.FromSeconds(3), new RetentionProgress(), removeOutboxFiles, checkpoint, null, mark)));
        job.Tell(RetentionActor.RunNow.Instance, TestActor);
        var run = ExpectMsg<RetentionRun>(TimeSpan.FromSeconds(10));
        return (run, store, Volatile.Read(ref checkpoints), marked, outbox);
    }

    [Fact]
    public void Views_left_by_a_run_stopped_after_their_emails_were_removed_are_deleted_and_the_files_checkpointed()
    {
        // The emails answer "nothing to do" and have no owner: an earlier run removed them from the journal, then stopped.
        var (run, store, checkpoints, _, outbox) = Run(id => new R.RetentionApplied(id, RetentionStep.Keep, null), "e1", "e2");
        Assert.Null(run.Error);
        Assert.Equal((0, 0), (run.BodiesRemoved, run.EmailsRemoved));
        Assert.Equal(new[] { "e1", "e2" }, store.Deleted.Order());
        Assert.Equal(new[] { "e1", "e2" }, outbox.Distinct().Order());
        Assert.Equal(1, checkpoints);
    }

    [Fact]
    public void A_run_that_removed_nothing_does_not_checkpoint()
    {
        var (run, store, checkpoints, _, _) = Run(id => new R.RetentionApplied(id, RetentionStep.Keep, "u1"), "e1");
        Assert.Null(run.Error);
        Assert.Empty(store.Deleted);
        Assert.Equal(0, checkpoints);
    }

    [Fact]
    public void Bodies_removed_now_or_by_a_stopped_run_are_marked_for_the_storage_figures()
    {
        // e1's bodies go now; e2's went in a run that stopped before marking it (it answers "nothing to do", and has an owner).
        // Bodies only (envelopes kept forever), so that the bodies pass alone asks them.
        var (run, _, checkpoints, marked, _) = Run(new RetentionPolicy(TimeSpan.FromDays(7), Timeout.InfiniteTimeSpan),
            id => new R.RetentionApplied(id, id == "e1" ? RetentionStep.RemoveBodies : RetentionStep.Keep, "u1"), "e1", "e2");
        Assert.Null(run.Error);
        Assert.Equal(1, run.BodiesRemoved);
        Assert.Equal(new[] { "e1", "e2" }, marked.Distinct().Order());
        Assert.Equal(1, checkpoints);
    }
}

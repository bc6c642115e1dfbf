using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Streams.Dsl;
using Akka.TestKit;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using Xunit;
using static AkkaMail.Actors.PipelineMessages;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The dispatcher, and the whole in-process pipeline wired as the host wires it.</summary>
public class PipelineTests : Akka.TestKit.Xunit2.TestKit
{
    public PipelineTests() : base(TestActorSystems.Create(T.Hocon)) { }

    [Fact]
    public void The_dispatcher_queues_the_job_then_marks_it_dispatched_and_retries_a_failed_enqueue()
    {
        var queue = new FlakyQueue(failures: 1);
        var manager = CreateTestProbe();
        var dispatcher = Sys.ActorOf(Props.Create(() => new DispatcherActor(queue, manager.Ref, 10, 2)));
        dispatcher.Tell(new DispatchJob(new SendJob("e1", 1), TimeSpan.FromSeconds(5)));
        // The first enqueue fails; the second, a second later, succeeds: only then is it marked.
        Assert.Equal(new MarkDispatched("e1", 1), manager.ExpectMsg<MarkDispatched>(TimeSpan.FromSeconds(5)));
        Assert.Equal(new[] { (new SendJob("e1", 1), TimeSpan.FromSeconds(5)) }, queue.Enqueued);
        Assert.Equal(2, queue.Attempts);
        Assert.Equal(Sys.DeadLetters, manager.LastSender);   // told without a sender: nobody waits for an answer
        manager.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task An_email_goes_from_accept_to_delivered_through_the_real_pipeline()
    {
        var views = new ConcurrentQueue<EmailChanged>();
        var writer = ChangeRecorders.Start(Sys, views);
        var queue = new InProcSendQueue(100);
        var provider = new SendConsumerTests.StubProvider { Answer = e => new SendOutcome.Sent($"pm-{e.EmailId}") };
        var settings = Settings.Fast();
        IActorRef dispatcher = ActorRefs.Nobody;
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(
            id => EmailActor.Props(id, new EmailActorDeps(settings, dispatcher, null, TimeProvider.System)))));
        dispatcher = Sys.ActorOf(Props.Create(() => new DispatcherActor(queue, manager, 100, 4)));
        Sys.ActorOf(Props.Create(() => new SendConsumerActor(queue, provider, manager, settings)));

        var ids = Enumerable.Range(0, 20).Select(i => $"e{i:D2}").ToList();
        foreach (var id in ids) manager.Tell(new AcceptEmail(id, "u1", T.OneRecipient));
        Assert.All(ReceiveN(ids.Count), r => Assert.False(Assert.IsType<R.EmailAccepted>(r).Existing));

        AwaitAssert(() =>
        {
            foreach (var id in ids)
            {
                var s = manager.Ask<EmailState>(new GetEmailState(id), TimeSpan.FromSeconds(3)).Result;
                Assert.Equal(SendPhase.Sent, s.Phase);
                // (Not necessarily "dispatched" in its timeline: the sender may begin before MarkDispatched arrives.)
            }
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(ids, provider.Calls.Select(c => c.EmailId).Order());   // each exactly once

        foreach (var id in ids)
            manager.Tell(new ApplyProviderEvent(id, T.Pe($"dlv-{id}", ProviderEventKind.Delivered, 1, messageId: $"pm-{id}")));
        ReceiveN(ids.Count);
        foreach (var id in ids)
            Assert.Equal(EmailStatus.Delivered, (await manager.Ask<EmailState>(new GetEmailState(id), TimeSpan.FromSeconds(3))).Status);
        AwaitAssert(() => Assert.All(ids, id => Assert.Contains(views, v => v.EmailId == id && v.Status == "delivered")));
        await queue.DisposeAsync();
    }

    private sealed class FlakyQueue(int failures) : ISendQueue
    {
        private int _attempts;
        public int Attempts => Volatile.Read(ref _attempts);
        public ConcurrentQueue<(SendJob, TimeSpan)> Enqueued { get; } = new();
        public string Name => "flaky";
        public bool IsDurable => true;

        public Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default)
        {
            if (Interlocked.Increment(ref _attempts) <= failures) throw new IOException("broker unreachable");
            Enqueued.Enqueue((job, delay));
            return Task.CompletedTask;
        }

        public Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default) => Task.CompletedTask;
        public Source<SendJobDelivery, NotUsed> Deliveries() => Source.Never<SendJobDelivery>();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using Akka.Actor;
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

/// <summary>The journal is the truth: an email accepted but never dispatched is found and dispatched again.</summary>
public class SweepTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly ConcurrentQueue<EmailChanged> _views = new();
    private readonly IActorRef _writer;

    public SweepTests() : base(TestActorSystems.Create(T.Hocon)) => _writer = ChangeRecorders.Start(Sys, _views);

    private EmailActorDeps Deps(TestProbe dispatcher) => new(Settings.Fast(), dispatcher.Ref, null, new FakeTimeProvider(T.T0));

    private IActorRef Manager(TestProbe dispatcher)
    {
        var deps = Deps(dispatcher);
        return Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
    }

    /// <summary>Accepted and persisted, but the dispatch is lost with the process: its dispatcher drops the job.</summary>
    private void AcceptedThenCrashed(string id)
    {
        var lostDispatcher = CreateTestProbe();
        var actor = Sys.ActorOf(EmailActor.Props(id, Deps(lostDispatcher)));
        actor.Tell(new AcceptEmail(id, "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        lostDispatcher.ExpectMsg<DispatchJob>();   // and dropped
        Watch(actor);
        actor.Tell(PoisonPill.Instance);
        ExpectTerminated(actor);
    }

    [Fact]
    public void Sweep_dispatch_after_a_crash_between_persist_and_dispatch()
    {
        AcceptedThenCrashed("e1");
        var dispatcher = CreateTestProbe();
        var manager = Manager(dispatcher);
        manager.Tell(new SweepDispatch("e1", TimeSpan.Zero));
        Assert.Equal(new DispatchJob(new SendJob("e1", 1), TimeSpan.Zero), dispatcher.ExpectMsg<DispatchJob>());

        // Once the queue confirmed it, a sweep with a generous timeout leaves it alone.
        manager.Tell(new MarkDispatched("e1", 1));
        manager.Tell(new SweepDispatch("e1", TimeSpan.FromMinutes(5)));
        Assert.True(this.HandledSoFar(manager, "e1").Dispatched);
        dispatcher.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void The_sweeper_dispatches_every_unsettled_email_at_start_up()
    {
        var ids = new[] { "e1", "e2", "e3" };
        foreach (var id in ids) AcceptedThenCrashed(id);
        var dispatcher = CreateTestProbe();
        var manager = Manager(dispatcher);
        var (store, stub) = StubReadStore.Create(ids);
        Sys.ActorOf(Props.Create(() => new SweeperActor(store, manager, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(5), TimeSpan.Zero, 2)));
        var jobs = dispatcher.ReceiveN(3).Cast<DispatchJob>().Select(j => j.Job).OrderBy(j => j.EmailId).ToList();
        Assert.Equal(ids.Select(id => new SendJob(id, 1)), jobs);
        Assert.True(stub.Calls >= 2);   // paged by the batch size
        dispatcher.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void The_sweeper_sweeps_again_on_its_interval()
    {
        AcceptedThenCrashed("e1");
        var dispatcher = CreateTestProbe();
        var manager = Manager(dispatcher);
        var (store, _) = StubReadStore.Create(new[] { "e1" });
        Sys.ActorOf(Props.Create(() => new SweeperActor(store, manager, TimeSpan.FromMilliseconds(200), TimeSpan.Zero, TimeSpan.Zero, 100)));
        dispatcher.ExpectMsg<DispatchJob>();
        dispatcher.ExpectMsg<DispatchJob>(TimeSpan.FromSeconds(3));   // nobody confirmed it: swept again
    }

    /// <summary>
    /// #16, item 5 (a): during a broker outage the dispatcher's publish hangs, unconfirmed. Sweeps until the pickup
    /// timeout has passed since the hand-over leave the email alone (each used to queue another copy); after it, the
    /// sweep hands it over once more, and that hand-over gets its own timeout.
    /// </summary>
    [Fact]
    public void Sweeps_leave_a_hand_over_whose_publish_hangs_alone_until_the_pickup_timeout()
    {
        var pickup = TimeSpan.FromMinutes(5);
        var clock = new FakeTimeProvider(T.T0);
        var queue = new HangingQueue();
        var dispatcher = Sys.ActorOf(Props.Create(() => new DispatcherActor(queue, ActorRefs.Nobody, 100, 16)));
        var deps = new EmailActorDeps(Settings.Fast(), dispatcher, null, clock);
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));

        manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        AwaitAssert(() => Assert.Equal(1, queue.Publishes));   // handed over at T0; the broker never confirms

        foreach (var after in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(4.9) })
        {
            clock.SetUtcNow(T.T0 + after);
            manager.Tell(new SweepDispatch("e1", pickup));
            this.HandledSoFar(manager, "e1");
        }
        manager.Tell(new GetEmailState("e1"));
        Assert.False(ExpectMsg<EmailState>().Dispatched);
        Thread.Sleep(200);
        Assert.Equal(1, queue.Publishes);

        // The pickup timeout since the hand-over has passed: lost, handed over again.
        clock.SetUtcNow(T.T0 + pickup + TimeSpan.FromSeconds(1));
        manager.Tell(new SweepDispatch("e1", pickup));
        AwaitAssert(() => Assert.Equal(2, queue.Publishes));
        // ... and that hand-over is left alone for its own timeout.
        clock.SetUtcNow(T.T0 + pickup + TimeSpan.FromMinutes(2));
        manager.Tell(new SweepDispatch("e1", pickup));
        this.HandledSoFar(manager, "e1");
        Thread.Sleep(200);
        Assert.Equal(2, queue.Publishes);
    }

    /// <summary>A send queue whose publishes never complete (a broker that is down: no confirm ever comes).</summary>
    private sealed class HangingQueue : ISendQueue
    {
        private int _publishes;
        public int Publishes => Volatile.Read(ref _publishes);
        public string Name => "hanging";
        public bool IsDurable => true;

        public Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default)
        {
            Interlocked.Increment(ref _publishes);
            return new TaskCompletionSource().Task;
        }

        public Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default) => Task.CompletedTask;
        public Akka.Streams.Dsl.Source<SendJobDelivery, Akka.NotUsed> Deliveries() => Akka.Streams.Dsl.Source.Never<SendJobDelivery>();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A read store that knows only the unsettled ids (a proxy, so that it keeps compiling as the
    /// interface grows).</summary>
    public class StubReadStore : System.Reflection.DispatchProxy
    {
        private IReadOnlyList<string> _unsettled = Array.Empty<string>();
        private int _calls;
        public int Calls => Volatile.Read(ref _calls);

        public static (IEmailReadStore Store, StubReadStore Stub) Create(IReadOnlyList<string> unsettled)
        {
            var store = Create<IEmailReadStore, StubReadStore>();
            var stub = (StubReadStore)(object)store;
            stub._unsettled = unsettled;
            return (store, stub);
        }

        protected override object? Invoke(System.Reflection.MethodInfo? method, object?[]? args)
        {
            if (method!.Name == nameof(IEmailReadStore.FindUnsettledAsync))
            {
                Interlocked.Increment(ref _calls);
                var limit = (int)args![0]!;
                var after = (string?)args[1];
                IReadOnlyList<string> page = _unsettled.Where(id => after is null || string.CompareOrdinal(id, after) > 0)
                    .OrderBy(id => id, StringComparer.Ordinal).Take(limit).ToList();
                return Task.FromResult(page);
            }
            var rt = method.ReturnType;
            if (rt == typeof(Task)) return Task.CompletedTask;
            if (rt.IsGenericType && rt.GetGenericTypeDefinition() == typeof(Task<>))
            {
                var arg = rt.GetGenericArguments()[0];
                var value = arg.IsValueType ? Activator.CreateInstance(arg) : null;
                return typeof(Task).GetMethod(nameof(Task.FromResult))!.MakeGenericMethod(arg).Invoke(null, new[] { value });
            }
            throw new NotSupportedException(method.Name);
        }
    }
}

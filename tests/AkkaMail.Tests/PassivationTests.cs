using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The manager passivates idle email actors and loses nothing that arrives meanwhile.</summary>
public class PassivationTests : Akka.TestKit.Xunit2.TestKit
{
    public PassivationTests() : base(TestActorSystems.Create(T.Hocon)) { }

    private int LiveCount(IActorRef manager) => manager.Ask<int>(new EmailManagerActor.GetLiveCount(), TimeSpan.FromSeconds(3)).Result;

    [Fact]
    public async Task A_stream_of_provider_events_across_passivations_is_applied_in_full()
    {
        var views = new ConcurrentQueue<AkkaMail.Actors.PipelineMessages.EmailChanged>();
        var writer = ChangeRecorders.Start(Sys, views);
        var dispatcher = CreateTestProbe();
        var passivation = TimeSpan.FromMilliseconds(100);
        var deps = new EmailActorDeps(Settings.Fast(passivation: passivation), dispatcher.Ref, null, new FakeTimeProvider(T.T0));
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps), null, passivation)));

        manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        AwaitAssert(() => Assert.Equal(0, LiveCount(manager)), TimeSpan.FromSeconds(5));   // passivated once already

        const int total = 200, burst = 20;
        var sent = 0;
        for (var b = 0; b < total / burst; b++)
        {
            if (b % 2 == 0)
                AwaitAssert(() => Assert.Equal(0, LiveCount(manager)), TimeSpan.FromSeconds(5));   // certainly restarted by this burst
            else
                await Task.Delay(80 + 10 * b);   // around the timeout (100 ms, swept every 100 ms): the burst races the passivation
            for (var i = 0; i < burst; i++, sent++)
            {
                var kind = sent % 2 == 0 ? ProviderEventKind.Opened : ProviderEventKind.Clicked;
                manager.Tell(new ApplyProviderEvent("e1", T.Pe($"ev-{sent:D3}", kind, sent % 60, url: "https://x.io")));
            }
        }

        var replies = ReceiveN(total, TimeSpan.FromSeconds(20)).ToList();
        Assert.All(replies, r => Assert.Equal(new R.ProviderEventApplied("e1", R.ProviderEventResult.Applied), r));
        manager.Tell(new GetEmailState("e1"));
        var s = ExpectMsg<EmailState>();
        Assert.Equal(total, s.SeenProviderEvents.Count);
        Assert.Equal(total, s.Recipients["rcpt@example.com"].Engagements.Count);
        Assert.Equal(total + 1, s.Version);
        AwaitAssert(() => Assert.Equal(0, LiveCount(manager)), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Messages_arriving_while_a_child_stops_are_delivered_to_its_next_incarnation()
    {
        // A child that asks to passivate on demand, and answers with its incarnation number.
        var incarnations = 0;
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(_ =>
            Props.Create(() => new ScriptedChild(Interlocked.Increment(ref incarnations))))));
        manager.Tell(new Ping("x", "before"));
        ExpectMsg(("before", 1));
        manager.Tell(new Ping("x", "passivate"));
        // The child asked its parent before it answered: the manager sees the request before what follows, and
        // holds it while the child stops.
        ExpectMsg(("passivate", 1));
        for (var i = 0; i < 10; i++) manager.Tell(new Ping("x", $"m{i}"));
        var got = ReceiveN(10).Cast<(string, int)>().ToList();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => ($"m{i}", 2)), got);
        Assert.Equal(1, LiveCount(manager));
    }

    private IActorRef EmailManager(TimeSpan passivation)
    {
        var writer = ChangeRecorders.Start(Sys, new ConcurrentQueue<AkkaMail.Actors.PipelineMessages.EmailChanged>());
        var deps = new EmailActorDeps(Settings.Fast(passivation: passivation), CreateTestProbe().Ref, null, new FakeTimeProvider(T.T0));
        return Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps), null, passivation)));
    }

    private IActorRef ChildOf(IActorRef manager, string emailId) =>
        Sys.ActorSelection(manager.Path / EmailManagerActor.ChildName(emailId)).ResolveOne(TimeSpan.FromSeconds(3)).Result;

    [Fact]
    public void An_idle_email_actor_is_stopped_after_the_timeout_and_recovers_its_state_when_next_addressed()
    {
        var passivation = TimeSpan.FromMilliseconds(300);
        var manager = EmailManager(passivation);
        manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        var first = ChildOf(manager, "e1");
        Watch(first);
        var idle = Stopwatch.StartNew();
        manager.Tell(new ApplyProviderEvent("e1", T.Pe("ev-1", ProviderEventKind.Opened, 1)));
        ExpectMsg(new R.ProviderEventApplied("e1", R.ProviderEventResult.Applied));

        ExpectTerminated(first, TimeSpan.FromSeconds(10));
        // Not before the timeout (a little slack for the coarse monotonic clock the manager reads).
        Assert.True(idle.Elapsed >= passivation - TimeSpan.FromMilliseconds(50), $"stopped after {idle.Elapsed}");
        Assert.Equal(0, LiveCount(manager));

        manager.Tell(new GetEmailState("e1"));
        var s = ExpectMsg<EmailState>();
        Assert.Equal(2, s.Version);
        Assert.Contains("ev-1", s.SeenProviderEvents);
        Assert.NotEqual(first, ChildOf(manager, "e1"));   // a new incarnation, recovered from the journal
        Assert.Equal(1, LiveCount(manager));
    }

    [Fact]
    public void An_email_actor_that_keeps_receiving_messages_is_not_passivated()
    {
        var passivation = TimeSpan.FromSeconds(1);
        var manager = EmailManager(passivation);
        manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        var child = ChildOf(manager, "e1");
        Watch(child);

        // Three timeouts long, never more than about 100 ms without a message. Were it stopped meanwhile, the
        // Terminated would come ahead of a state below.
        var busy = Stopwatch.StartNew();
        while (busy.Elapsed < passivation * 3)
        {
            manager.Tell(new GetEmailState("e1"));
            ExpectMsg<EmailState>();
            Thread.Sleep(100);
        }
        Assert.Equal(child, ChildOf(manager, "e1"));

        // Left alone, it goes: this test would see a passivation.
        ExpectTerminated(child, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Messages_arriving_while_an_idle_child_stops_are_delivered_to_its_next_incarnation()
    {
        // A child that, told to stop, takes its time: it stops only when released.
        var incarnations = 0;
        var observer = TestActor;
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(
            _ => Props.Create(() => new SlowToStopChild(Interlocked.Increment(ref incarnations), observer)),
            null, TimeSpan.FromMilliseconds(200))));
        manager.Tell(new Ping("x", "before"));
        ExpectMsg(("before", 1));
        ExpectMsg(("stopping", 1), TimeSpan.FromSeconds(10));   // idle: the manager told it to stop
        var stopping = LastSender;

        for (var i = 0; i < 10; i++) manager.Tell(new Ping("x", $"m{i}"));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));   // held by the manager, not given to the stopping child
        stopping.Tell(SlowToStopChild.Release.Instance);

        var got = ReceiveN(10, TimeSpan.FromSeconds(10)).Cast<(string, int)>().ToList();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => ($"m{i}", 2)), got);
    }

    private sealed record Ping(string EmailId, string Text) : IWithEmailId;

    private sealed class SlowToStopChild : ReceiveActor
    {
        public sealed class Release
        {
            public static readonly Release Instance = new();
        }

        public SlowToStopChild(int incarnation, IActorRef observer)
        {
            Receive<Ping>(p => Sender.Tell((p.Text, incarnation)));
            Receive<EmailActor.Stop>(_ =>
            {
                observer.Tell(("stopping", incarnation));
                Become(() =>
                {
                    Receive<Release>(_ => Context.Stop(Self));
                    Receive<Ping>(p => Sender.Tell(("reached the stopping child: " + p.Text, incarnation)));
                });
            });
        }
    }

    private sealed class ScriptedChild : ReceiveActor
    {
        public ScriptedChild(int incarnation)
        {
            Receive<Ping>(p =>
            {
                if (p.Text == "passivate")
                {
                    Context.Parent.Tell(new Passivate(PoisonPill.Instance));
                    Sender.Tell((p.Text, incarnation));
                    return;
                }
                Sender.Tell((p.Text, incarnation));
            });
        }
    }
}

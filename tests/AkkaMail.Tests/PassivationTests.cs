using System.Collections.Concurrent;
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
    public PassivationTests() : base(T.Hocon) { }

    private int LiveCount(IActorRef manager) => manager.Ask<int>(new EmailManagerActor.GetLiveCount(), TimeSpan.FromSeconds(3)).Result;

    [Fact]
    public async Task A_stream_of_provider_events_across_passivations_is_applied_in_full()
    {
        var views = new ConcurrentQueue<EmailView>();
        var writer = Sys.ActorOf(FakeWriter.Props(views));
        var dispatcher = CreateTestProbe();
        var deps = new EmailActorDeps(Settings.Fast(passivation: TimeSpan.FromMilliseconds(100)), dispatcher.Ref, writer, new ManualClock(T.T0));
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));

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
                await Task.Delay(80 + 10 * b);   // around the timeout: the burst races the passivation
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

    private sealed record Ping(string EmailId, string Text) : IWithEmailId;

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

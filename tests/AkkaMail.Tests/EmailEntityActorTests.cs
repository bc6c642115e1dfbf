using Microsoft.Extensions.Time.Testing;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The sharding region's entity: the email's first message chooses whether its actor skips recovery, every
/// message reaches the actor with its sender, and the shard's stop message ends both.</summary>
public class EmailEntityActorTests : Akka.TestKit.Xunit2.TestKit
{
    public EmailEntityActorTests() : base(TestActorSystems.Create(T.Hocon)) { }

    private sealed class PropsChoice
    {
        public int Fresh;
        public int Recovering;
    }

    private IActorRef Entity(string emailId, PropsChoice choice)
    {
        var deps = new EmailActorDeps(Settings.Fast(), CreateTestProbe().Ref, null, new FakeTimeProvider(T.T0));
        return Sys.ActorOf(EmailEntityActor.Props(emailId,
            id => { Interlocked.Increment(ref choice.Recovering); return EmailActor.Props(id, deps); },
            id => { Interlocked.Increment(ref choice.Fresh); return EmailActor.FreshProps(id, deps); }));
    }

    [Fact]
    public void An_accept_without_idempotency_key_starts_a_fresh_email_whose_next_incarnation_recovers_it()
    {
        var choice = new PropsChoice();
        var entity = Entity("e1", choice);
        Watch(entity);
        entity.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        Assert.False(ExpectMsg<R.EmailAccepted>().Existing);
        Assert.Equal((1, 0), (choice.Fresh, choice.Recovering));

        // The shard's stop message (passivation, hand-off) ends the email actor and the entity with it.
        entity.Tell(EmailActor.Stop.Instance);
        ExpectTerminated(entity);

        // The next incarnation starts from another message and recovers what the first one wrote.
        var again = Entity("e1", choice);
        again.Tell(new GetEmailState("e1"));
        var state = ExpectMsg<EmailState>();
        Assert.Equal(1, state.Version);
        Assert.Equal((1, 1), (choice.Fresh, choice.Recovering));
    }

    [Fact]
    public void An_accept_under_an_idempotency_key_recovers_since_its_id_may_have_been_written_before()
    {
        var choice = new PropsChoice();
        var entity = Entity("e2", choice);
        entity.Tell(new AcceptEmail("e2", "u1", T.OneRecipient, IdempotencyKey: "k-1", RequestFingerprint: "f"));
        ExpectMsg<R.EmailAccepted>();
        entity.Tell(new AcceptEmail("e2", "u1", T.OneRecipient, IdempotencyKey: "k-1", RequestFingerprint: "f"));
        Assert.True(ExpectMsg<R.EmailAccepted>().Existing);
        Assert.Equal((0, 1), (choice.Fresh, choice.Recovering));
    }

    [Fact]
    public void A_stop_before_any_message_ends_the_entity_without_starting_an_email_actor()
    {
        var choice = new PropsChoice();
        var entity = Entity("e3", choice);
        Watch(entity);
        entity.Tell(EmailActor.Stop.Instance);
        ExpectTerminated(entity);
        Assert.Equal((0, 0), (choice.Fresh, choice.Recovering));
    }
}

using Akka.Actor;
using AkkaMail.Domain;

namespace AkkaMail.Actors;

/// <summary>
/// An email as an entity of the cluster's sharding region. A region's entity factory sees only the entity id, not the
/// message that creates the entity, so the choice the single node's <see cref="EmailManagerActor"/> makes per message
/// (an <see cref="EmailCommands.AcceptEmail"/> without Idempotency-Key has an id minted for this very request, and its
/// actor skips recovery: <see cref="EmailActor.FreshProps"/>) is made here, on the entity's first message. Every
/// message then goes to the one <see cref="EmailActor"/> child, its sender kept. The shard's stop message
/// (<see cref="EmailActor.Stop"/>, on passivation and hand-off) stops the child, and this entity ends with it, so
/// that the shard holds the email's next messages until it is gone.
/// </summary>
public sealed class EmailEntityActor : UntypedActor
{
    private readonly string _emailId;
    private readonly Func<string, Props> _props;
    private readonly Func<string, Props>? _freshProps;
    private IActorRef? _email;

    /// <param name="freshProps">Props for an email whose id was minted for its first message; null: every email
    /// recovers (akkamail.email.skip-recovery-of-new-emails = off).</param>
    public EmailEntityActor(string emailId, Func<string, Props> props, Func<string, Props>? freshProps)
    {
        _emailId = emailId;
        _props = props;
        _freshProps = freshProps;
    }

    public static Props Props(string emailId, Func<string, Props> props, Func<string, Props>? freshProps) =>
        Akka.Actor.Props.CreateBy(new Producer(emailId, props, freshProps));

    // An entity per email, thousands a second under load: a producer rather than an expression tree per actor.
    private sealed class Producer(string emailId, Func<string, Props> props, Func<string, Props>? freshProps) : IIndirectActorProducer
    {
        public Type ActorType => typeof(EmailEntityActor);
        public ActorBase Produce() => new EmailEntityActor(emailId, props, freshProps);
        public void Release(ActorBase actor) { }
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Terminated t when t.ActorRef.Equals(_email):
                // Stopped on the shard's request, or on its own (a failed write): the next message starts it afresh,
                // recovering from the journal.
                Context.Stop(Self);
                break;
            case EmailActor.Stop when _email is null:
                Context.Stop(Self);
                break;
            case EmailActor.Stop:
                _email.Tell(message);
                break;
            default:
                if (_email is null)
                {
                    var fresh = _freshProps is not null && message is EmailCommands.AcceptEmail { IdempotencyKey: null };
                    _email = Context.ActorOf(fresh ? _freshProps!(_emailId) : _props(_emailId), "email");
                    Context.Watch(_email);
                }
                _email.Forward(message);
                break;
        }
    }
}

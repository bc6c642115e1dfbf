using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using Akka.Persistence;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using static AkkaMail.Actors.PipelineMessages;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Actors;

/// <summary>What an email actor talks to besides its parent: services, and the dispatcher as Akka.Hosting's
/// <see cref="IRequiredActor{TActor}"/> from the service provider (found in the actor registry when first used, so one
/// instance serves every email actor, built before the dispatcher exists).</summary>
/// <param name="ReadSide">The read-side projection's progress: a change that suppresses an address is answered only
/// once the projection has stored it (null: answered at once, as in actor tests without a read side).</param>
/// <param name="Live">Where the actor publishes its current state for the sender's look before the rate limit (null: nowhere).</param>
/// <param name="Metrics">Where persisted events and live actors are counted (null: nowhere).</param>
public sealed record EmailActorDeps(AkkaMailSettings Settings, IRequiredActor<DispatcherActor> Dispatcher, ProjectionProgress? ReadSide,
    TimeProvider Clock, LiveEmailStates? Live = null, Observability.AkkaMailMetrics? Metrics = null)
{
    /// <summary>With a dispatcher already at hand (actor tests: a probe).</summary>
    public EmailActorDeps(AkkaMailSettings settings, IActorRef dispatcher, ProjectionProgress? readSide, TimeProvider clock,
        LiveEmailStates? live = null, Observability.AkkaMailMetrics? metrics = null)
        : this(settings, new KnownActor(dispatcher), readSide, clock, live, metrics) { }

    private sealed class KnownActor(IActorRef actor) : IRequiredActor<DispatcherActor>
    {
        public IActorRef ActorRef => actor;
        public Task<IActorRef> GetAsync(CancellationToken cancellationToken = default) => Task.FromResult(actor);
    }
}

/// <summary>
/// One email, persistent (<c>email-{id}</c>). Thin: the decisions are <see cref="EmailState"/>'s; this actor
/// persists what it decides, then does the side effects (dispatch, broadcast), then replies. It writes no other
/// store: the read model and the suppression lists are projections of the journal (<see cref="EmailReadSideProjection"/>).
/// </summary>
public sealed class EmailActor : UntypedPersistentActor
{
    private readonly string _emailId;
    private readonly string _persistenceId;
    private readonly EmailActorDeps _deps;
    private EmailState _state;
    private readonly bool _fresh;
    // The projection of this email's last suppressing change, until stored: later answers wait for it too, so that
    // no answer about this email runs ahead of the suppression list.
    private Task _suppressionProjected = Task.CompletedTask;
    // The last reply held back behind a projection, once sent: later replies follow it.
    private Task _heldReplies = Task.CompletedTask;
    // When this actor last handed a job to the dispatcher, and for which attempt (memory only): until the queue confirms
    // it (MarkDispatched) the hand-over is in progress, and the sweep leaves it alone for the pickup timeout, even
    // while the publish hangs on a broker outage.
    private (int Attempt, DateTimeOffset At)? _handedOver;
    // The retention step in progress (one at a time): who waits for its answer, the sequence number its deletions reach,
    // how many of its deletions (events, snapshots) are still to be confirmed, and the state before it (restored if a
    // deletion fails: the journal still holds the email then).
    private (IActorRef ReplyTo, RetentionStep Step, long UpTo, string? UserId, int Pending, EmailState Before)? _retention;

    // An actor per email, thousands a second under load: Props with a producer instead of Props.Create(() => new ...),
    // whose expression tree is built and evaluated (and the constructor invoked by reflection) for every actor.
    public static Props Props(string emailId, EmailActorDeps deps) => Akka.Actor.Props.CreateBy(new Producer(emailId, deps, false));

    /// <summary>
    /// For an id minted just now (no Idempotency-Key): nothing can be in the journal, so the actor skips snapshot
    /// loading, replay and the journal's read of its highest sequence number (<see cref="NewIdRecovery"/>). Only its first incarnation: after a
    /// passivation it is created with <see cref="Props(string, EmailActorDeps)"/> and recovers as usual.
    /// </summary>
    public static Props FreshProps(string emailId, EmailActorDeps deps) => Akka.Actor.Props.CreateBy(new Producer(emailId, deps, true));

    private sealed class Producer(string emailId, EmailActorDeps deps, bool fresh) : IIndirectActorProducer
    {
        public Type ActorType => typeof(EmailActor);
        public ActorBase Produce() => new EmailActor(emailId, deps, fresh);
        public void Release(ActorBase actor) { }
    }

    public static string PersistenceIdFor(string emailId) => "email-" + emailId;

    public EmailActor(string emailId, EmailActorDeps deps) : this(emailId, deps, false) { }

    // An untyped actor (a switch) rather than a ReceivePersistentActor, which builds its handler table anew in
    // the constructor of every instance.
    public EmailActor(string emailId, EmailActorDeps deps, bool fresh)
    {
        _fresh = fresh;
        _emailId = emailId;
        _persistenceId = PersistenceIdFor(emailId);
        _deps = deps;
        _state = EmailState.Empty(emailId);
    }

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer o: _state = (EmailState)o.Snapshot; break;
            case IEmailEvent e: _state = _state.Apply(e); break;
            case RecoveryCompleted when _state.Exists: _deps.Live?.Publish(_emailId, _state); break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case EmailCommands.GetEmailState: Sender.Tell(_state); break;
            case EmailCommands.ApplyRetention r: ApplyRetention(r); break;
            case IEmailCommand command: Handle(command); break;
            // Passivation: the manager tells an idle email actor Stop (it tracks idleness itself; the actor sets no
            // receive timeout, which would reschedule a timer on every message). Not a PoisonPill: that is handled
            // ahead of the persistence stash, so it would stop the actor between a Persist and its handler, losing
            // the reply (and the side effects) of a command already being persisted. A command is stashed behind the
            // events in flight, so everything before it is finished first.
            case Stop: Context.Stop(Self); break;
            case SaveSnapshotSuccess s:
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
                // The compaction snapshot holds the settled state (no bodies): the events it replaces can go.
                if (_retention is { Step: RetentionStep.RemoveBodies } compacting && s.Metadata.SequenceNr == compacting.UpTo)
                    DeleteMessages(compacting.UpTo);
                break;
            case SaveSnapshotFailure f:
                Log.Warning(f.Cause, "Email {EmailId}: snapshot failed", _emailId);
                if (_retention is { Step: RetentionStep.RemoveBodies } failed && f.Metadata.SequenceNr == failed.UpTo)
                    RetentionFailed(f.Cause);
                break;
            case DeleteMessagesSuccess d when _retention is { } deleting && d.ToSequenceNr == deleting.UpTo: RetentionConfirmed(); break;
            case DeleteMessagesFailure d when _retention is { } deleting && d.ToSequenceNr == deleting.UpTo: RetentionFailed(d.Cause); break;
            case DeleteSnapshotsSuccess d when _retention is { Step: RetentionStep.RemoveEmail } && d.Criteria.MaxSequenceNr == long.MaxValue:
                RetentionConfirmed();
                break;
            case DeleteSnapshotsFailure d when _retention is { Step: RetentionStep.RemoveEmail } && d.Criteria.MaxSequenceNr == long.MaxValue:
                RetentionFailed(d.Cause);
                break;
            case DeleteSnapshotsSuccess or DeleteSnapshotsFailure or DeleteMessagesSuccess or DeleteMessagesFailure: break;
            default: Unhandled(message); break;
        }
    }

    public override string PersistenceId => _persistenceId;

    public override Recovery Recovery => _fresh ? NewIdRecovery : Recovery.Default;

    /// <summary>
    /// Recovers nothing: no snapshot, no events, and (replay max 0) not even the highest sequence number, which our
    /// journals (SQLite, MongoDB, PostgreSQL) then answer as 0 without reading; Akka's <see cref="Recovery.None"/> still reads
    /// it. Other journals read it as usual.
    /// </summary>
    private static readonly Recovery NewIdRecovery = new(SnapshotSelectionCriteria.None, toSequenceNr: 0, replayMax: 0);

    /// <summary>The stop message of a passivating email actor, sent by <see cref="EmailManagerActor"/>.</summary>
    public sealed class Stop
    {
        public static readonly Stop Instance = new();
        private Stop() { }
    }

    protected override void PreStart()
    {
        base.PreStart();
        _deps.Metrics?.EmailActorStarted();
    }

    protected override void PostStop()
    {
        _deps.Live?.Withdraw(_emailId);
        _deps.Metrics?.EmailActorStopped();
        base.PostStop();
    }

    private DecisionContext NewContext() => new(
        _deps.Clock.GetUtcNow(), _deps.Settings.Retry, _deps.Settings.AttemptTimeout, Random.Shared.NextDouble());

    /// <summary>Interprets the domain's decision: persist its events, then carry out its effects, then reply.</summary>
    private void Handle(IEmailCommand command)
    {
        var decision = command is EmailCommands.SweepDispatch sweep
            ? _state.DecideSweep(sweep, NewContext(), _handedOver is { } h && h.Attempt == _state.Attempt ? h.At : null)
            : _state.Decide(command, NewContext());
        var sender = Sender;
        if (decision.Events.Count == 0)
        {
            Carry(decision);
            Reply(sender, decision.Reply);
            return;
        }
        // A change that suppresses an address is answered once the suppression list has it (the next POST to that
        // address must find it). Registered before the persist: the projection may pass the event before the
        // persist callback runs.
        if (_deps.ReadSide is { } readSide && decision.Events.Any(SuppressionRules.Suppresses))
            _suppressionProjected = readSide.WhenProjected(_persistenceId, LastSequenceNr + decision.Events.Count);
        var remaining = decision.Events.Count;
        PersistAll(decision.Events, evt =>
        {
            _state = _state.Apply(evt);
            _deps.Live?.Publish(_emailId, _state);
            AfterPersisted(evt);
            // Every persisted event is announced, with the status and version as of that event (a batch may hold
            // several).
            Context.System.EventStream.Publish(EmailChanged.Of(_emailId, _state.UserId ?? "", _state.Status.ToWire(), evt, _state.Version));
            if (LastSequenceNr % _deps.Settings.SnapshotEvery == 0) SaveSnapshot(_state);
            if (--remaining > 0) return;
            Carry(decision);
            Reply(sender, decision.Reply);
        });
    }

    private void Carry(Decision decision)
    {
        foreach (var effect in decision.Effects)
        {
            switch (effect)
            {
                case EmailEffect.Dispatch d: Dispatch(d.Attempt, d.Delay); break;
                default: throw new ArgumentOutOfRangeException(nameof(decision), effect.GetType().Name, "unknown effect");
            }
        }
    }

    /// <summary>Answers at once, or once this email's last suppressing change is projected.</summary>
    private void Reply(IActorRef sender, object? reply)
    {
        if (reply is null) return; // a command nobody waits for (MarkDispatched, SweepDispatch)
        if (_suppressionProjected.IsCompleted && _heldReplies.IsCompleted)
        {
            sender.Tell(reply);
            return;
        }
        // Held back replies go out in the order of their commands: each waits for the projection and for the reply held
        // before it (two continuations of one task may run in either order).
        _heldReplies = Task.WhenAll(_heldReplies, _suppressionProjected)
            .ContinueWith(t => sender.Tell(t.IsCompletedSuccessfully ? reply : new Status.Failure(t.Exception?.GetBaseException()
                ?? new TaskCanceledException("the projection of a suppressing change was cancelled"))), TaskContinuationOptions.ExecuteSynchronously);
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // The actor stops: nobody waits for the projection of what was not persisted.
        if (!_suppressionProjected.IsCompleted) _deps.ReadSide?.Cancel(_persistenceId);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        if (!_suppressionProjected.IsCompleted) _deps.ReadSide?.Cancel(_persistenceId);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    private void AfterPersisted(IEmailEvent evt)
    {
        _deps.Metrics?.Record(evt);
        // The levels of the frequent ones are checked first: their arguments would be boxed into an array for every
        // event even when the level is off.
        switch (evt)
        {
            case EmailAccepted when Log.IsInfoEnabled:
                Log.Info("Email {EmailId} accepted for {RecipientCount} recipients", _emailId, _state.Recipients.Count);
                break;
            case SendRetryScheduled r:
                Log.Warning("Email {EmailId} attempt {Attempt} failed ({Reason}); retry at {NextAttemptAt}",
                    _emailId, r.Attempt, r.Reason, r.NextAttemptAt);
                break;
            case EmailSent s when Log.IsInfoEnabled:
                Log.Info("Email {EmailId} sent as {ProviderMessageId} (attempt {Attempt})", _emailId, s.ProviderMessageId, s.Attempt);
                break;
            case EmailSendFailed f:
                Log.Warning("Email {EmailId} failed: {Reason}", _emailId, f.Reason);
                break;
            case ProviderEventRecorded p when Log.IsDebugEnabled:
                Log.Debug("Email {EmailId}: {Kind} for {Recipient}", _emailId, p.Event.Kind, p.Event.Recipient);
                break;
        }
    }

    /// <summary>
    /// Retention, as <see cref="RetentionPolicy.Decide"/> says. Bodies: a snapshot of the settled state (which holds no
    /// bodies) replaces the events up to it, and earlier snapshots (which may hold them) go. Email: every event and
    /// snapshot goes and the actor forgets it. Answered once the journal confirms the deletions; an unsettled email is
    /// never touched (the policy keeps it).
    /// </summary>
    private void ApplyRetention(EmailCommands.ApplyRetention command)
    {
        var now = _deps.Clock.GetUtcNow();
        var step = _retention is null ? command.Policy.Decide(_state, now) : RetentionStep.Keep;
        var userId = _state.UserId;
        switch (step)
        {
            case RetentionStep.RemoveBodies:
                _retention = (Sender, step, LastSequenceNr, userId, 1, _state);
                _state = _state with { BodiesRemovedAt = now };
                SaveSnapshot(_state);
                break;
            case RetentionStep.RemoveEmail:
                _retention = (Sender, step, LastSequenceNr, userId, 2, _state);
                DeleteSnapshots(SnapshotSelectionCriteria.Latest);
                DeleteMessages(LastSequenceNr);
                _state = EmailState.Empty(_emailId);
                _deps.Live?.Withdraw(_emailId);
                break;
            default:
                Sender.Tell(new EmailReplies.RetentionApplied(_emailId, RetentionStep.Keep, userId));
                break;
        }
    }

    private void RetentionConfirmed()
    {
        if (_retention is not { } r) return;
        if (r.Pending > 1)
        {
            _retention = r with { Pending = r.Pending - 1 };
            return;
        }
        _retention = null;
        if (Log.IsInfoEnabled) Log.Info("Email {EmailId}: retention done ({Step})", _emailId, r.Step);
        r.ReplyTo.Tell(new EmailReplies.RetentionApplied(_emailId, r.Step, r.UserId));
    }

    private void RetentionFailed(Exception cause)
    {
        if (_retention is not { } r) return;
        _retention = null;
        Log.Warning(cause, "Email {EmailId}: retention ({Step}) failed", _emailId, r.Step);
        // Not done: the next run finds the email again and must decide the same. (A removal's later events, if any came
        // meanwhile, were refused: the email was unknown for them.)
        _state = r.Step == RetentionStep.RemoveBodies ? _state with { BodiesRemovedAt = null } : r.Before;
        if (r.Step == RetentionStep.RemoveEmail) _deps.Live?.Publish(_emailId, _state);
        r.ReplyTo.Tell(new Status.Failure(cause));
    }

    private void Dispatch(int attempt, TimeSpan delay)
    {
        _handedOver = (attempt, _deps.Clock.GetUtcNow());
        _deps.Dispatcher.ActorRef.Tell(new DispatchJob(new SendJob(_emailId, attempt), delay));
    }
}

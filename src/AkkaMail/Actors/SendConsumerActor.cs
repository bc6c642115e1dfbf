using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Providers;
using AkkaMail.Sending;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Actors;

/// <summary>
/// Runs the sender stream: deliveries from the send queue → drop the redundant ones (a look at the email actor's
/// state in memory: already sent, failed or cancelled, another attempt current, this one in flight; acked, no send
/// token spent) → throttle to the provider's rate → up to <c>parallelism</c> at once: ask the email actor whether the
/// attempt may go (it persists the start), call the provider, have the actor persist the outcome, and only then ack the
/// delivery. A failure nacks it back onto the queue.
/// </summary>
public sealed class SendConsumerActor : ReceiveActor, IWithTimers
{
    public const string Name = "send-consumer";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ISendQueue _queue;
    private readonly IEmailProvider _provider;
    private readonly IActorRef _emailManager;
    private readonly AkkaMailSettings _settings;
    private readonly TimeProvider _clock;
    private readonly CancellationTokenSource _stopping = new();
    private UniqueKillSwitch? _intake;
    private bool _streamRunning;
    private readonly List<IActorRef> _drainWaiters = new();
    private sealed record StreamEnded(Exception? Error);

    /// <summary>Graceful stop: take no new deliveries, finish (persist, ack) those in flight, then answer <see cref="Drained"/>.</summary>
    public sealed record Drain
    {
        public static readonly Drain Instance = new();
    }

    public sealed record Drained
    {
        public static readonly Drained Instance = new();
    }

    public ITimerScheduler Timers { get; set; } = null!;
    private readonly LiveEmailStates? _live;

    /// <param name="clock">The email actors' clock (an early job's remaining wait is computed with it).</param>
    /// <param name="live">The email actors' published states, looked at before the rate limit (null: no look).</param>
    /// <param name="startWhen">Deliveries are taken only once this completes (null: at once). In cluster mode, once
    /// the node is an Up member: a node that has not joined could reach no email, and would hold its prefetched
    /// deliveries unacked, away from the nodes that can.</param>
    public SendConsumerActor(ISendQueue queue, IEmailProvider provider, IActorRef emailManager, AkkaMailSettings settings,
        TimeProvider? clock = null, LiveEmailStates? live = null, Task? startWhen = null)
    {
        _startWhen = startWhen;
        _live = live;
        _clock = clock ?? TimeProvider.System;
        _queue = queue;
        _provider = provider;
        _emailManager = emailManager;
        _settings = settings;
        Receive<StreamEnded>(e =>
        {
            _streamRunning = false;
            if (_drainWaiters.Count > 0)
            {
                _log.Info("Sender stream drained: every delivery in flight is settled");
                foreach (var waiter in _drainWaiters) waiter.Tell(Drained.Instance);
                return;
            }
            if (_stopping.IsCancellationRequested) return;
            _log.Error(e.Error, "Sender stream ended; restarting it in 1 s");
            Timers.StartSingleTimer("restart", new Start(), TimeSpan.FromSeconds(1));
        });
        Receive<Start>(_ =>
        {
            if (_drainWaiters.Count == 0) RunStream();
        });
        Receive<Drain>(_ =>
        {
            _drainWaiters.Add(Sender);
            Timers.Cancel("restart");
            if (!_streamRunning)
            {
                Sender.Tell(Drained.Instance);
                return;
            }
            _log.Info("Draining the sender stream: no new deliveries; finishing those in flight");
            _intake?.Shutdown();
        });
    }

    private sealed record Start;

    private readonly Task? _startWhen;

    protected override void PreStart()
    {
        if (_startWhen is null || _startWhen.IsCompletedSuccessfully) RunStream();
        else
        {
            var self = Self;
            _startWhen.ContinueWith(_ => self.Tell(new Start()), TaskContinuationOptions.OnlyOnRanToCompletion);
        }
    }

    protected override void PostStop() => _stopping.Cancel();

    private void RunStream()
    {
        var self = Self;
        _streamRunning = true;
        var (intake, done) = _queue.Deliveries()
            .ViaMaterialized(KillSwitches.Single<SendJobDelivery>(), Keep.Right)
            // Before the throttle: a copy of a job (a redelivery, a sweep's re-dispatch) must not wait for, nor take,
            // a token of the provider's rate that a real send needs. Only a look: approval stays with the actor below.
            .Where(NotRedundant)
            .Throttle(_settings.ProviderRatePerSecond, TimeSpan.FromSeconds(1), _settings.ProviderRateBurst, ThrottleMode.Shaping)
            .SelectAsyncUnordered(_settings.SendParallelism, ProcessAsync)
            .ToMaterialized(Sink.Ignore<Done>(), Keep.Both)
            .Run(Context.Materializer());
        _intake = intake;
        done.ContinueWith(t => self.Tell(new StreamEnded(t.Exception?.GetBaseException())));
    }

    /// <summary>Queues an early job again for the rest of its wait (at least a second, so a clock skew between
    /// this process and the due time cannot spin it).</summary>
    private async Task RedelayAsync(SendJob job, DateTimeOffset dueAt)
    {
        var delay = dueAt - _clock.GetUtcNow();
        _log.Debug("Email {EmailId}: attempt {Attempt} arrived {Delay} early; queued again", job.EmailId, job.Attempt, delay);
        await _queue.EnqueueAsync(job, delay > TimeSpan.Zero ? delay : TimeSpan.FromSeconds(1));
    }

    /// <summary>
    /// False for a redundant job (<see cref="EmailState.IsRedundantJob"/> on the state its actor last published), which
    /// is acked and dropped here; true for every other one, and for any whose email is not in memory (its actor judges
    /// it after the rate limit, as always). A synchronous look at an immutable state: no message, no allocation.
    /// </summary>
    private bool NotRedundant(SendJobDelivery delivery)
    {
        var job = delivery.Job;
        if (_live is null || !_live.TryGet(job.EmailId, out var state)) return true;
        if (!state.IsRedundantJob(job.Attempt, new DecisionContext(_clock.GetUtcNow(), _settings.Retry, _settings.AttemptTimeout)))
            return true;
        if (_log.IsDebugEnabled)
            _log.Debug("Email {EmailId}: job for attempt {Attempt} dropped before the rate limit: the email is {Status} (attempt {Current})",
                job.EmailId, job.Attempt, state.Status.ToWire(), state.Attempt);
        // Settled here, whatever happens: a delivery is acked or nacked once at most.
        _ = AckRedundantAsync(delivery);
        return false;
    }

    private async Task AckRedundantAsync(SendJobDelivery delivery)
    {
        try { await delivery.Ack(); }
        catch (Exception ex)
        {
            _log.Warning(ex, "Email {EmailId}: could not ack a redundant job for attempt {Attempt}; the queue will redeliver it",
                delivery.Job.EmailId, delivery.Job.Attempt);
        }
    }

    private async Task<Done> ProcessAsync(SendJobDelivery delivery)
    {
        var job = delivery.Job;
        try
        {
            var begin = await _emailManager.Ask<R.BeginSendReply>(new EmailCommands.BeginSendAttempt(job.EmailId, job.Attempt), _settings.AskTimeout);
            if (begin is not R.SendApproved approved)
            {
                var denied = (R.SendDenied)begin;
                // Early (a scheduled email's job arrived before its time): queue it again for the rest of the wait
                // rather than drop it and leave it to the sweep.
                if (denied.Reason is DenialReason.NotYetDue early)
                    await RedelayAsync(job, early.DueAt);
                else
                    _log.Debug("Email {EmailId}: job for attempt {Attempt} dropped: {Reason}", job.EmailId, job.Attempt, denied.Reason);
                await delivery.Ack();
                return Done.Instance;
            }
            SendOutcome outcome;
            try
            {
                outcome = await _provider.SendAsync(new OutgoingEmail(job.EmailId, job.Attempt, approved.Content), _stopping.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
            {
                outcome = new SendOutcome.Transient($"{_provider.Name}: {ex.GetType().Name}: {ex.Message}");
            }
            var recorded = await _emailManager.Ask<R.OutcomeRecorded>(
                new EmailCommands.RecordSendOutcome(job.EmailId, job.Attempt, outcome), _settings.AskTimeout);
            if (recorded.Next == R.NextStep.DeadLetter)
                await _queue.DeadLetterAsync(job, outcome is SendOutcome.Transient t ? t.Reason : "failed");
            await delivery.Ack();
        }
        catch (Exception ex)
        {
            _log.Warning(ex, "Email {EmailId}: attempt {Attempt} not settled; giving the job back", job.EmailId, job.Attempt);
            try { await delivery.Nack(true); }
            catch (Exception nackError) { _log.Warning(nackError, "Email {EmailId}: nack failed", job.EmailId); }
        }
        return Done.Instance;
    }
}

using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>EmailState.Decide / Apply, pure: every transition of an email's send life.</summary>
public class DomainTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;

    private static AcceptEmail Accept(string? fingerprint = "fp-1", DateTimeOffset? sendAt = null) =>
        new(Id, "u1", T.Content("A <a@example.com>", "b@example.com"), "key-1", fingerprint, sendAt);

    private static EmailState Queued() => EmailState.Empty(Id).Run(Accept(), T.Ctx(T0));
    private static EmailState Sending(DateTimeOffset? at = null) => Queued().Run(new BeginSendAttempt(Id, 1), T.Ctx(at ?? T0.AddSeconds(1)));
    private static EmailState Sent() => Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pmid-1")), T.Ctx(T0.AddSeconds(2)));
    private static EmailState Retrying() =>
        Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy")), T.Ctx(T0.AddSeconds(2)));
    private static EmailState Failed() =>
        Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Permanent("bad address")), T.Ctx(T0.AddSeconds(2)));
    private static EmailState Cancelled() => Queued().Run(new CancelEmail(Id), T.Ctx(T0.AddSeconds(1)));

    // ---------------------------------------------------------------- content after the last send

    [Fact]
    public void Once_nothing_more_will_be_sent_the_bodies_go_and_the_envelope_stays()
    {
        Assert.NotNull(Sending().Content!.Text); // still there while a send may come
        Assert.NotNull(Retrying().Content!.Text);
        foreach (var done in new[] { Sent(), Failed(), Cancelled() })
        {
            var c = done.Content!;
            Assert.Null(c.Text);
            Assert.Null(c.Html);
            Assert.Empty(c.Attachments);
            Assert.Equal(Queued().Content!.Subject, c.Subject);
            Assert.Equal(Queued().Content!.To, c.To);
            Assert.Equal(Queued().Content!.From, c.From);
        }
        // Replaying the events gives the same (recovery equals the live state).
        var replayed = EmailState.Empty(Id);
        foreach (var e in SentEvents()) replayed = replayed.Apply(e);
        Assert.Null(replayed.Content!.Text);
        Assert.Equal(Sent().Version, replayed.Version);
    }

    private static IEnumerable<IEmailEvent> SentEvents()
    {
        var s = EmailState.Empty(Id);
        var all = new List<IEmailEvent>();
        s = s.Run(Accept(), T.Ctx(T0), out _, out var e1); all.AddRange(e1);
        s = s.Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)), out _, out var e2); all.AddRange(e2);
        s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pmid-1")), T.Ctx(T0.AddSeconds(2)), out _, out var e3); all.AddRange(e3);
        return all;
    }

    // ---------------------------------------------------------------- accept

    [Fact]
    public void Accept_new_email_persists_accepted_and_is_queued()
    {
        var s = EmailState.Empty(Id).Run(Accept(), T.Ctx(T0), out var reply, out var events);
        var e = Assert.IsType<EmailAccepted>(Assert.Single(events));
        Assert.Equal(T0, e.At);
        Assert.Equal(new R.EmailAccepted(Id, EmailStatus.Queued, Existing: false), reply);
        Assert.Equal(SendPhase.Queued, s.Phase);
        Assert.Equal(1, s.Attempt);
        Assert.False(s.Dispatched);
        Assert.Equal(new[] { "a@example.com", "b@example.com" }, s.Recipients.Keys);
        Assert.All(s.Recipients.Values, r => Assert.Equal(RecipientStatus.Pending, r.Status));
        Assert.Equal(1, s.Version);
        Assert.Equal(TimeSpan.Zero, s.DispatchDelay(T0));
    }

    [Fact]
    public void Accept_repeated_with_same_fingerprint_answers_the_same_without_events()
    {
        var s = Queued();
        var d = s.Decide(Accept(), T.Ctx(T0.AddMinutes(1)));
        Assert.Empty(d.Events);
        Assert.Equal(new R.EmailAccepted(Id, EmailStatus.Queued, Existing: true), d.Reply);
        // Also once it moved on: the answer tells the current status.
        var d2 = Sent().Decide(Accept(), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal(new R.EmailAccepted(Id, EmailStatus.Sent, Existing: true), d2.Reply);
    }

    [Fact]
    public void Accept_repeated_with_different_fingerprint_is_an_idempotency_conflict()
    {
        var d = Queued().Decide(Accept("fp-2"), T.Ctx(T0.AddMinutes(1)));
        Assert.Empty(d.Events);
        Assert.Equal(new R.IdempotencyConflict(Id), d.Reply);
    }

    [Fact]
    public void Scheduled_accept_is_scheduled_and_waits_until_send_at()
    {
        var sendAt = T0.AddHours(1);
        var s = EmailState.Empty(Id).Run(Accept(sendAt: sendAt), T.Ctx(T0), out var reply);
        Assert.Equal(new R.EmailAccepted(Id, EmailStatus.Scheduled, false), reply);
        Assert.Equal(SendPhase.Scheduled, s.Phase);
        Assert.Equal(EmailStatus.Scheduled, s.Status);
        Assert.Equal(TimeSpan.FromHours(1), s.DispatchDelay(T0));
        var early = s.Decide(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddMinutes(30)));
        Assert.Empty(early.Events);
        Assert.Equal(new DenialReason.NotYetDue(sendAt), Assert.IsType<R.SendDenied>(early.Reply).Reason);
        var onTime = s.Decide(new BeginSendAttempt(Id, 1), T.Ctx(sendAt));
        Assert.IsType<R.SendApproved>(onTime.Reply);
        Assert.IsType<SendAttemptStarted>(Assert.Single(onTime.Events));
    }

    // ---------------------------------------------------------------- dispatch

    [Fact]
    public void Mark_dispatched_records_the_current_attempt_only()
    {
        var s = Queued().Run(new MarkDispatched(Id, 1), T.Ctx(T0.AddSeconds(1)), out var reply, out var events);
        Assert.IsType<EmailDispatched>(Assert.Single(events));
        Assert.Null(reply); // never answered: the dispatcher waits for nothing
        Assert.True(s.Dispatched);
        Assert.Equal(T0.AddSeconds(1), s.DispatchedAt);

        Assert.Empty(Queued().Decide(new MarkDispatched(Id, 2), T.Ctx(T0)).Events);   // stale attempt number
        Assert.Empty(Sending().Decide(new MarkDispatched(Id, 1), T.Ctx(T0)).Events);  // already picked up
        Assert.Empty(Sent().Decide(new MarkDispatched(Id, 1), T.Ctx(T0)).Events);
        Assert.Empty(EmailState.Empty(Id).Decide(new MarkDispatched(Id, 1), T.Ctx(T0)).Events);
    }

    // ---------------------------------------------------------------- begin attempt

    [Fact]
    public void Begin_attempt_is_approved_for_the_current_attempt()
    {
        var s = Queued().Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)), out var reply, out var events);
        var approved = Assert.IsType<R.SendApproved>(reply);
        Assert.Equal(1, approved.Attempt);
        Assert.Equal(new[] { "a@example.com", "b@example.com" }, approved.Recipients);
        Assert.Equal("Hello", approved.Content.Subject);
        Assert.IsType<SendAttemptStarted>(Assert.Single(events));
        Assert.Equal(SendPhase.Sending, s.Phase);
        Assert.Equal(EmailStatus.Sending, s.Status);
        Assert.Equal(T0.AddSeconds(1), s.AttemptStartedAt);
    }

    [Fact]
    public void Begin_attempt_is_denied_when_sent_failed_cancelled_or_stale_or_unknown()
    {
        var ctx = T.Ctx(T0.AddHours(1));
        foreach (var (state, attempt) in new[] { (Sent(), 1), (Failed(), 1), (Cancelled(), 1), (Retrying(), 1), (Queued(), 2), (Sending(), 2) })
        {
            var d = state.Decide(new BeginSendAttempt(Id, attempt), ctx);
            Assert.Empty(d.Events);
            Assert.Equal(attempt, Assert.IsType<R.SendDenied>(d.Reply).Attempt);
        }
        var unknown = EmailState.Empty(Id).Decide(new BeginSendAttempt(Id, 1), ctx);
        Assert.IsType<DenialReason.UnknownEmail>(Assert.IsType<R.SendDenied>(unknown.Reply).Reason);
    }

    [Fact]
    public void Begin_attempt_while_sending_is_denied_until_the_attempt_timeout_then_approved_again()
    {
        var started = T0.AddSeconds(1);
        var s = Sending(started);
        var within = s.Decide(new BeginSendAttempt(Id, 1), T.Ctx(started + TimeSpan.FromMinutes(2)));
        Assert.Empty(within.Events);
        Assert.IsType<DenialReason.AttemptInProgress>(Assert.IsType<R.SendDenied>(within.Reply).Reason);

        var later = started + TimeSpan.FromMinutes(2) + TimeSpan.FromMilliseconds(1);
        var s2 = s.Run(new BeginSendAttempt(Id, 1), T.Ctx(later), out var reply, out var events);
        Assert.IsType<R.SendApproved>(reply);
        Assert.IsType<SendAttemptStarted>(Assert.Single(events));
        Assert.Equal(later, s2.AttemptStartedAt);
        Assert.Equal(1, s2.Attempt);
    }

    // ---------------------------------------------------------------- outcome

    [Fact]
    public void Outcome_sent_records_the_provider_message_id()
    {
        var s = Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pmid-1")), T.Ctx(T0.AddSeconds(2)), out var reply, out var events);
        Assert.IsType<EmailSent>(Assert.Single(events));
        Assert.Equal(new R.OutcomeRecorded(Id, R.NextStep.Done), reply);
        Assert.Equal(SendPhase.Sent, s.Phase);
        Assert.Equal(EmailStatus.Sent, s.Status);
        Assert.Equal("pmid-1", s.ProviderMessageId);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.999999)]
    public void Outcome_transient_schedules_a_retry_with_backoff_within_policy_bounds(double random01)
    {
        var now = T0.AddSeconds(2);
        var s = Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy")), T.Ctx(now, random01), out var reply, out var events);
        var e = Assert.IsType<SendRetryScheduled>(Assert.Single(events));
        var r = Assert.IsType<R.OutcomeRecorded>(reply);
        Assert.Equal(R.NextStep.Retry, r.Next);
        Assert.Equal(2, r.NextAttempt);
        Assert.InRange(r.Delay, T.Policy.MinBackoff, T.Policy.MaxBackoff);
        Assert.Equal(now + r.Delay, e.NextAttemptAt);
        Assert.Equal(SendPhase.RetryWaiting, s.Phase);
        Assert.Equal(EmailStatus.Retrying, s.Status);
        Assert.Equal(2, s.Attempt);
        Assert.False(s.Dispatched);
        Assert.Equal(r.Delay, s.DispatchDelay(now));
        Assert.Equal("busy", s.FailureReason);
        // The next attempt goes once the retry job arrives.
        Assert.IsType<R.SendApproved>(s.Decide(new BeginSendAttempt(Id, 2), T.Ctx(e.NextAttemptAt)).Reply);
    }

    [Fact]
    public void Backoff_grows_stays_within_bounds_and_honours_retry_after_as_a_floor()
    {
        var p = T.Policy;
        var previousMid = TimeSpan.Zero;
        for (var attempt = 2; attempt <= 40; attempt++)
        {
            foreach (var r in new[] { 0.0, 0.25, 0.5, 0.75, 0.999999 })
                Assert.InRange(p.BackoffBefore(attempt, r), p.MinBackoff, p.MaxBackoff);
            var mid = p.BackoffBefore(attempt, 0.5);
            Assert.True(mid >= previousMid, $"backoff shrank at attempt {attempt}");
            previousMid = mid;
        }
        Assert.Equal(TimeSpan.FromSeconds(2), p.BackoffBefore(2, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(4), p.BackoffBefore(3, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(90), p.BackoffBefore(2, 0.5, TimeSpan.FromSeconds(90)));   // above max: the provider wins
        Assert.Equal(TimeSpan.FromSeconds(4), p.BackoffBefore(3, 0.5, TimeSpan.FromSeconds(1)));     // below: ours wins

        var now = T0.AddSeconds(2);
        var d = Sending().Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("429", TimeSpan.FromSeconds(30))), T.Ctx(now));
        Assert.Equal(TimeSpan.FromSeconds(30), Assert.IsType<R.OutcomeRecorded>(d.Reply).Delay);
        Assert.Equal(now.AddSeconds(30), Assert.IsType<SendRetryScheduled>(Assert.Single(d.Events)).NextAttemptAt);
    }

    [Fact]
    public void Outcome_transient_on_the_last_attempt_fails_and_dead_letters()
    {
        var s = Queued();
        var now = T0;
        for (var attempt = 1; attempt < T.Policy.MaxAttempts; attempt++)
        {
            now = now.AddMinutes(5);
            s = s.Run(new BeginSendAttempt(Id, attempt), T.Ctx(now));
            s = s.Run(new RecordSendOutcome(Id, attempt, new SendOutcome.Transient("busy")), T.Ctx(now), out var r);
            Assert.Equal(R.NextStep.Retry, Assert.IsType<R.OutcomeRecorded>(r).Next);
        }
        var last = T.Policy.MaxAttempts;
        now = now.AddMinutes(5);
        s = s.Run(new BeginSendAttempt(Id, last), T.Ctx(now));
        s = s.Run(new RecordSendOutcome(Id, last, new SendOutcome.Transient("busy")), T.Ctx(now), out var reply, out var events);
        Assert.IsType<EmailSendFailed>(Assert.Single(events));
        Assert.Equal(new R.OutcomeRecorded(Id, R.NextStep.DeadLetter), reply);
        Assert.Equal(SendPhase.SendFailed, s.Phase);
        Assert.Equal(EmailStatus.Failed, s.Status);
        Assert.Contains("gave up after 5 attempts", s.FailureReason);
    }

    [Fact]
    public void Outcome_permanent_fails_at_once()
    {
        var s = Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Permanent("bad address")), T.Ctx(T0.AddSeconds(2)), out var reply, out var events);
        Assert.IsType<EmailSendFailed>(Assert.Single(events));
        Assert.Equal(new R.OutcomeRecorded(Id, R.NextStep.Done), reply);
        Assert.Equal(EmailStatus.Failed, s.Status);
        Assert.Equal("bad address", s.FailureReason);
    }

    [Fact]
    public void Outcome_for_another_attempt_or_outside_sending_is_ignored()
    {
        var ignored = new R.OutcomeRecorded(Id, R.NextStep.Ignored);
        foreach (var (state, attempt) in new[] { (Queued(), 1), (Sending(), 2), (Sent(), 1), (Retrying(), 2) })
        {
            var d = state.Decide(new RecordSendOutcome(Id, attempt, new SendOutcome.Sent("x")), T.Ctx(T0.AddMinutes(1)));
            Assert.Empty(d.Events);
            Assert.Equal(ignored, d.Reply);
        }
    }

    // ---------------------------------------------------------------- cancel

    [Fact]
    public void Cancel_before_the_provider_has_it()
    {
        var scheduled = EmailState.Empty(Id).Run(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0));
        foreach (var state in new[] { Queued(), scheduled, Retrying() })
        {
            var s = state.Run(new CancelEmail(Id), T.Ctx(T0.AddMinutes(1)), out var reply, out var events);
            Assert.IsType<EmailCancelled>(Assert.Single(events));
            Assert.Equal(new R.Cancelled(Id), reply);
            Assert.Equal(EmailStatus.Cancelled, s.Status);
            // Cancelling twice is fine and changes nothing.
            var again = s.Decide(new CancelEmail(Id), T.Ctx(T0.AddMinutes(2)));
            Assert.Empty(again.Events);
            Assert.Equal(new R.Cancelled(Id), again.Reply);
            // And a late job for it is dropped.
            Assert.IsType<R.SendDenied>(s.Decide(new BeginSendAttempt(Id, s.Attempt), T.Ctx(T0.AddHours(2))).Reply);
        }
    }

    [Fact]
    public void Cancel_is_refused_once_sending_or_sent_and_unknown_for_no_email()
    {
        var d1 = Sending().Decide(new CancelEmail(Id), T.Ctx(T0.AddMinutes(1)));
        Assert.Empty(d1.Events);
        Assert.Equal(new R.CannotCancel(Id, EmailStatus.Sending), d1.Reply);
        var d2 = Sent().Decide(new CancelEmail(Id), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal(new R.CannotCancel(Id, EmailStatus.Sent), d2.Reply);
        var d3 = Failed().Decide(new CancelEmail(Id), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal(new R.CannotCancel(Id, EmailStatus.Failed), d3.Reply);
        Assert.Equal(new R.UnknownEmail(Id), EmailState.Empty(Id).Decide(new CancelEmail(Id), T.Ctx(T0)).Reply);
    }

    // ---------------------------------------------------------------- sweep

    /// <summary>The sweep's dispatch, or null when it has nothing to do. It persists nothing and answers nothing.</summary>
    private static EmailEffect.Dispatch? Sweep(EmailState s, DateTimeOffset now, TimeSpan pickup)
    {
        var d = s.Decide(new SweepDispatch(Id, pickup), T.Ctx(now));
        Assert.Empty(d.Events);
        Assert.Null(d.Reply);
        return d.Dispatch();
    }

    [Fact]
    public void Sweep_dispatches_what_was_never_handed_to_the_queue()
    {
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), Sweep(Queued(), T0, TimeSpan.Zero));
        var retrying = Retrying();
        Assert.Equal(new EmailEffect.Dispatch(2, retrying.NextAttemptAt!.Value - T0.AddSeconds(2)), Sweep(retrying, T0.AddSeconds(2), TimeSpan.Zero));
        var scheduled = EmailState.Empty(Id).Run(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.FromMinutes(50)), Sweep(scheduled, T0.AddMinutes(10), TimeSpan.Zero));
    }

    [Fact]
    public void Sweep_redispatches_a_queued_job_not_picked_up_within_the_timeout()
    {
        var dispatched = Queued().Run(new MarkDispatched(Id, 1), T.Ctx(T0.AddSeconds(1)));
        var timeout = TimeSpan.FromMinutes(5);
        Assert.Null(Sweep(dispatched, T0.AddMinutes(5), timeout));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), Sweep(dispatched, T0.AddMinutes(6), timeout));
    }

    [Fact]
    public void Sweep_leaves_a_hand_over_in_progress_alone_until_the_timeout_since_it()
    {
        var timeout = TimeSpan.FromMinutes(5);
        EmailEffect.Dispatch? SweepHandedOver(EmailState s, DateTimeOffset now, DateTimeOffset? handedOverAt, DateTimeOffset? lost = null) =>
            s.DecideSweep(new SweepDispatch(Id, timeout, lost), T.Ctx(now), handedOverAt).Dispatch();

        // Handed to the dispatcher at T0, never confirmed (the publish hangs): not due before T0 + timeout.
        Assert.Null(SweepHandedOver(Queued(), T0.AddMinutes(1), T0));
        Assert.Null(SweepHandedOver(Queued(), T0.AddMinutes(4.9), T0));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), SweepHandedOver(Queued(), T0.AddMinutes(5.1), T0));
        // Without it (another incarnation of the actor), the journal alone decides: never confirmed, so due.
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), SweepHandedOver(Queued(), T0.AddMinutes(1), null));
        // Handed over again after a confirmed but old dispatch: the new hand-over counts.
        var old = Queued().Run(new MarkDispatched(Id, 1), T.Ctx(T0));
        Assert.Null(SweepHandedOver(old, T0.AddMinutes(7), T0.AddMinutes(6)));
        // A hand-over by this incarnation, after the restart, is not in the lost queue.
        Assert.Null(SweepHandedOver(old, T0.AddMinutes(7), T0.AddMinutes(6), lost: T0.AddMinutes(5)));
        // A retry's hand-over likewise; an email past the queue ignores it.
        Assert.Null(SweepHandedOver(Retrying(), T0.AddMinutes(30), T0.AddMinutes(29)));
        Assert.Null(SweepHandedOver(Sent(), T0.AddMinutes(30), null));
    }

    [Fact]
    public void A_job_is_redundant_exactly_when_its_attempt_would_be_denied_for_good()
    {
        var ctx = T.Ctx(T0.AddSeconds(5));
        Assert.False(Queued().IsRedundantJob(1, ctx));
        Assert.True(Queued().IsRedundantJob(2, ctx));                 // not the current attempt
        Assert.True(Sending().IsRedundantJob(1, ctx));                // in flight
        Assert.False(Sending().IsRedundantJob(1, T.Ctx(T0.AddHours(1))));  // in flight too long: the process died mid-call
        Assert.True(Sent().IsRedundantJob(1, ctx));
        Assert.True(Failed().IsRedundantJob(Failed().Attempt, ctx));
        Assert.True(Cancelled().IsRedundantJob(1, ctx));
        Assert.True(EmailState.Empty(Id).IsRedundantJob(1, ctx));
        var retrying = Retrying();
        Assert.True(retrying.IsRedundantJob(1, ctx));
        Assert.False(retrying.IsRedundantJob(2, ctx));                // the current attempt
        var scheduled = EmailState.Empty(Id).Run(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0));
        Assert.False(scheduled.IsRedundantJob(1, ctx));
        // The same verdicts as BeginSendAttempt's, on every state above.
        foreach (var (s, attempt) in new[] { (Queued(), 1), (Queued(), 2), (Sending(), 1), (Sent(), 1), (Cancelled(), 1), (retrying, 1), (retrying, 2) })
        {
            var reply = s.Decide(new BeginSendAttempt(Id, attempt), ctx).Reply;
            var deniedForGood = reply is R.SendDenied { Reason: not DenialReason.NotYetDue };
            Assert.Equal(deniedForGood, s.IsRedundantJob(attempt, ctx));
        }
    }

    [Fact]
    public void Sweep_after_a_restart_redispatches_jobs_the_lost_in_process_queue_held_due_or_not()
    {
        var timeout = TimeSpan.FromMinutes(5);
        var restartedAt = T0.AddMinutes(10);
        var scheduled = EmailState.Empty(Id).Run(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0)).Run(new MarkDispatched(Id, 1), T.Ctx(T0));
        // Without the hint the job is not yet due, so the sweep waits: a job in a lost queue would fire late.
        Assert.Null(Sweep(scheduled, restartedAt, timeout));
        var d = scheduled.Decide(new SweepDispatch(Id, timeout, LostIfDispatchedBefore: restartedAt), T.Ctx(restartedAt));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.FromMinutes(50)), d.Dispatch());
        // A job dispatched after the start is in the live queue: left alone.
        var redispatched = scheduled.Run(new MarkDispatched(Id, 1), T.Ctx(restartedAt.AddSeconds(1)));
        var again = redispatched.Decide(new SweepDispatch(Id, timeout, LostIfDispatchedBefore: restartedAt), T.Ctx(restartedAt.AddSeconds(2)));
        Assert.Null(again.Dispatch());
    }

    [Fact]
    public void Sweep_of_a_dispatched_scheduled_or_retrying_job_counts_the_timeout_from_its_due_time()
    {
        var timeout = TimeSpan.FromMinutes(5);
        var scheduled = EmailState.Empty(Id).Run(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0)).Run(new MarkDispatched(Id, 1), T.Ctx(T0));
        Assert.Null(Sweep(scheduled, T0.AddMinutes(50), timeout));
        Assert.Null(Sweep(scheduled, T0.AddMinutes(64), timeout));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), Sweep(scheduled, T0.AddMinutes(66), timeout));

        var retrying = Retrying();
        var next = retrying.NextAttemptAt!.Value;
        retrying = retrying.Run(new MarkDispatched(Id, 2), T.Ctx(T0.AddSeconds(2)));
        Assert.Null(Sweep(retrying, next + timeout, timeout));
        Assert.Equal(new EmailEffect.Dispatch(2, TimeSpan.Zero), Sweep(retrying, next + timeout + TimeSpan.FromSeconds(1), timeout));
    }

    [Fact]
    public void Sweep_hands_over_an_attempt_that_never_finished_after_the_attempt_timeout()
    {
        var s = Sending(T0);
        Assert.Null(Sweep(s, T0.AddMinutes(1), TimeSpan.Zero));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), Sweep(s, T0.AddMinutes(3), TimeSpan.Zero));
    }

    [Fact]
    public void Sweep_leaves_settled_and_unknown_emails_alone()
    {
        foreach (var s in new[] { Sent(), Failed(), Cancelled(), EmailState.Empty(Id) })
            Assert.Null(Sweep(s, T0.AddDays(1), TimeSpan.Zero));
    }

    [Fact]
    public void A_redispatch_by_the_sweep_restarts_the_pickup_clock()
    {
        // A queue backlog longer than the pickup timeout: the sweep dispatches again, the queue confirms, and the
        // next sweep must not dispatch yet another copy of the same job.
        var timeout = TimeSpan.FromMinutes(5);
        var s = Queued().Run(new MarkDispatched(Id, 1), T.Ctx(T0));
        var sweepAt = T0.AddMinutes(6);
        Assert.NotNull(Sweep(s, sweepAt, timeout));
        s = s.Run(new MarkDispatched(Id, 1), T.Ctx(sweepAt));
        Assert.Null(Sweep(s, sweepAt.AddSeconds(30), timeout));
        Assert.NotNull(Sweep(s, sweepAt.AddMinutes(6), timeout));
    }

    // ---------------------------------------------------------------- provider events

    [Fact]
    public void Provider_event_is_applied_once_and_duplicates_are_dropped()
    {
        var s = Sent();
        var pe = T.Pe("ev-1", ProviderEventKind.Delivered, 1, "A@Example.com");
        s = s.Run(new ApplyProviderEvent(Id, pe), T.Ctx(T0.AddMinutes(1)), out var reply, out var events);
        Assert.IsType<ProviderEventRecorded>(Assert.Single(events));
        Assert.Equal(new R.ProviderEventApplied(Id, R.ProviderEventResult.Applied), reply);
        Assert.Equal(RecipientStatus.Delivered, s.Recipients["a@example.com"].Status);
        Assert.Contains("ev-1", s.SeenProviderEvents);

        var dup = s.Decide(new ApplyProviderEvent(Id, pe with { Kind = ProviderEventKind.PermanentFailure }), T.Ctx(T0.AddMinutes(2)));
        Assert.Empty(dup.Events);
        Assert.Equal(new R.ProviderEventApplied(Id, R.ProviderEventResult.Duplicate), dup.Reply);
    }

    [Fact]
    public void Provider_event_for_an_unknown_email_is_reported_as_such()
    {
        var d = EmailState.Empty(Id).Decide(new ApplyProviderEvent(Id, T.Pe("ev-1", ProviderEventKind.Delivered, 1)), T.Ctx(T0));
        Assert.Empty(d.Events);
        Assert.Equal(new R.ProviderEventApplied(Id, R.ProviderEventResult.UnknownEmail), d.Reply);
    }

    [Fact]
    public void Provider_event_racing_our_record_of_the_send_moves_the_status_on()
    {
        // Delivered reported while we still think we are sending (the provider answered, we have not recorded it yet).
        var s = Sending().Run(new ApplyProviderEvent(Id, T.Pe("ev-1", ProviderEventKind.Delivered, 1, "a@example.com")), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal("pmid-1", s.ProviderMessageId);
        Assert.Equal(EmailStatus.Sent, s.Status);
        s = s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("<pmid-1>")), T.Ctx(T0.AddMinutes(1)));
        s = s.Run(new ApplyProviderEvent(Id, T.Pe("ev-2", ProviderEventKind.Delivered, 1, "b@example.com")), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal(EmailStatus.Delivered, s.Status);
    }

    [Fact]
    public void Version_counts_applied_events_and_updated_at_follows_the_last()
    {
        var s = Sent();
        Assert.Equal(3, s.Version);
        Assert.Equal(T0.AddSeconds(2), s.UpdatedAt);
        Assert.Equal(new[] { "accepted", "sending", "sent" }, s.Timeline.Select(t => t.Type));
    }
}

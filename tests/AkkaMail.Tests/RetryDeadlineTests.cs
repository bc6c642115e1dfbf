using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>
/// Issue #16, item 4: with the default policy an email survives a provider outage of hours (exponential backoff, each
/// wait capped, retried until a deadline), and is failed once the deadline has passed.
/// </summary>
public class RetryDeadlineTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;

    private static DecisionContext Ctx(DateTimeOffset now) => new(now, RetryPolicy.Default, TimeSpan.FromMinutes(2), 0.5);

    /// <summary>Attempts at each retry's due time, failing transiently while <paramref name="down"/> says so.</summary>
    private static (EmailState State, int Attempts, DateTimeOffset LastAt, List<TimeSpan> Waits) Run(Func<DateTimeOffset, bool> down, DateTimeOffset stopAt)
    {
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("bob@example.com")), Ctx(T0));
        var now = T0;
        var attempts = 0;
        var waits = new List<TimeSpan>();
        while (now < stopAt)
        {
            s = s.Run(new BeginSendAttempt(Id, s.Attempt), Ctx(now), out var begin);
            Assert.IsType<R.SendApproved>(begin);
            attempts++;
            SendOutcome outcome = down(now) ? new SendOutcome.Transient("mailgun 503") : new SendOutcome.Sent("pm-1");
            s = s.Run(new RecordSendOutcome(Id, s.Attempt, outcome), Ctx(now), out var reply);
            var recorded = Assert.IsType<R.OutcomeRecorded>(reply);
            if (recorded.Next != R.NextStep.Retry) break;
            waits.Add(recorded.Delay);
            now = s.NextAttemptAt!.Value;
        }
        return (s, attempts, now, waits);
    }

    [Fact]
    public void An_email_keeps_retrying_through_a_one_hour_outage_and_is_sent_when_it_ends()
    {
        var (s, attempts, lastAt, waits) = Run(now => now < T0.AddHours(1), T0.AddDays(3));
        Assert.Equal(SendPhase.Sent, s.Phase);
        Assert.Equal(EmailStatus.Sent, s.Status);
        Assert.True(lastAt >= T0.AddHours(1) && lastAt <= T0.AddHours(1).AddMinutes(15), $"sent at {lastAt - T0} after acceptance");
        Assert.True(attempts > 8, $"{attempts} attempts");
        // Exponential, and no single wait longer than the cap (10 min, +20 % jitter at most).
        Assert.True(waits[1] > waits[0]);
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(12)));
    }

    [Fact]
    public void An_email_is_failed_once_the_retry_deadline_has_passed()
    {
        var (s, attempts, lastAt, _) = Run(_ => true, T0.AddDays(3));
        Assert.Equal(SendPhase.SendFailed, s.Phase);
        Assert.Equal(EmailStatus.Failed, s.Status);
        // Retried for the whole 24 hours, the last attempt at the deadline, then given up.
        Assert.Equal(T0.AddHours(24), lastAt);
        Assert.True(attempts > 100, $"{attempts} attempts");
        Assert.Contains("gave up after", s.FailureReason);
        Assert.Contains("deadline", s.FailureReason);
    }

    [Fact]
    public void The_deadline_counts_from_send_at_for_a_scheduled_email_and_max_attempts_stays_an_optional_cap()
    {
        var sendAt = T0.AddDays(2);
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("bob@example.com"), SendAt: sendAt), Ctx(T0));
        s = s.Run(new BeginSendAttempt(Id, 1), Ctx(sendAt.AddHours(23)));
        s = s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy")), Ctx(sendAt.AddHours(23)), out var reply);
        Assert.Equal(R.NextStep.Retry, Assert.IsType<R.OutcomeRecorded>(reply).Next);

        var capped = new DecisionContext(T0, RetryPolicy.Default with { MaxAttempts = 2 }, TimeSpan.FromMinutes(2));
        var c = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("bob@example.com")), capped);
        c = c.Run(new BeginSendAttempt(Id, 1), capped).Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy")), capped);
        c = c.Run(new BeginSendAttempt(Id, 2), capped with { Now = c.NextAttemptAt!.Value });
        c = c.Run(new RecordSendOutcome(Id, 2, new SendOutcome.Transient("busy")), capped with { Now = c.NextAttemptAt!.Value }, out reply);
        Assert.Equal(R.NextStep.DeadLetter, Assert.IsType<R.OutcomeRecorded>(reply).Next);
        Assert.Contains("gave up after 2 attempts", c.FailureReason);
    }
}

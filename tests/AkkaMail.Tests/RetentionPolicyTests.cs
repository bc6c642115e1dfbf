using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;

namespace AkkaMail.Tests;

/// <summary>The retention policy as a pure function of an email's state and the time: what it removes, and that it never
/// touches an email not yet settled.</summary>
public sealed class RetentionPolicyTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;
    private static readonly RetentionPolicy Policy = new(TimeSpan.FromDays(7), TimeSpan.FromDays(90));

    private static EmailState Queued(DateTimeOffset? sendAt = null) =>
        EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.OneRecipient, SendAt: sendAt), T.Ctx(T0));

    private static EmailState Sending() => Queued().Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)));

    private static EmailState Retrying() =>
        Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy")), T.Ctx(T0.AddSeconds(2)));

    private static EmailState Sent() =>
        Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pm-1")), T.Ctx(T0.AddSeconds(2)));

    public static TheoryData<string> Unsettled() => ["queued", "scheduled", "sending", "retrying"];

    [Theory]
    [MemberData(nameof(Unsettled))]
    public void An_unsettled_email_is_never_touched_whatever_its_age(string phase)
    {
        var state = phase switch
        {
            "queued" => Queued(),
            "scheduled" => Queued(sendAt: T0.AddYears(2)),
            "sending" => Sending(),
            _ => Retrying(),
        };
        Assert.False(state.IsSettled);
        Assert.Null(state.SettledAt);
        foreach (var age in new[] { 8, 91, 365, 3650 })
            Assert.Equal(RetentionStep.Keep, Policy.Decide(state, T0.AddDays(age)));
    }

    [Fact]
    public void Erasure_removes_a_settled_email_at_once_and_never_an_unsettled_one()
    {
        var sent = Sent();
        Assert.Equal(RetentionStep.RemoveEmail, RetentionPolicy.EraseNow.Decide(sent, sent.SettledAt!.Value));
        var cancelled = Queued().Run(new CancelEmail(Id), T.Ctx(T0.AddSeconds(1)));
        Assert.True(cancelled.IsSettled);
        Assert.Equal(RetentionStep.RemoveEmail, RetentionPolicy.EraseNow.Decide(cancelled, T0.AddSeconds(1)));
        foreach (var unsettled in new[] { Queued(), Queued(sendAt: T0.AddYears(2)), Sending(), Retrying() })
            Assert.Equal(RetentionStep.Keep, RetentionPolicy.EraseNow.Decide(unsettled, T0.AddDays(1)));
        Assert.Equal(RetentionStep.Keep, RetentionPolicy.EraseNow.Decide(EmailState.Empty(Id), T0));
    }

    [Fact]
    public void Bodies_go_n_days_after_settling_and_the_envelope_m_days_after()
    {
        var sent = Sent();
        Assert.Equal(T0.AddSeconds(2), sent.SettledAt);
        var settled = sent.SettledAt!.Value;
        Assert.Equal(RetentionStep.Keep, Policy.Decide(sent, settled.AddDays(7).AddTicks(-1)));
        Assert.Equal(RetentionStep.RemoveBodies, Policy.Decide(sent, settled.AddDays(7)));
        // Done once: the compaction snapshot says so.
        var compacted = sent with { BodiesRemovedAt = settled.AddDays(7) };
        Assert.Equal(RetentionStep.Keep, Policy.Decide(compacted, settled.AddDays(30)));
        Assert.Equal(RetentionStep.Keep, Policy.Decide(compacted, settled.AddDays(90).AddTicks(-1)));
        Assert.Equal(RetentionStep.RemoveEmail, Policy.Decide(compacted, settled.AddDays(90)));
        // Never compacted (the job was off for months): the whole email goes at once.
        Assert.Equal(RetentionStep.RemoveEmail, Policy.Decide(sent, settled.AddDays(100)));
    }

    [Fact]
    public void Failed_and_cancelled_emails_settle_too_and_a_later_event_keeps_the_first_settling_time()
    {
        var failed = Sending().Run(new RecordSendOutcome(Id, 1, new SendOutcome.Permanent("550")), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal(T0.AddMinutes(1), failed.SettledAt);
        var cancelled = Queued(sendAt: T0.AddDays(30)).Run(new CancelEmail(Id), T.Ctx(T0.AddMinutes(2)));
        Assert.Equal(T0.AddMinutes(2), cancelled.SettledAt);
        Assert.Equal(RetentionStep.RemoveBodies, Policy.Decide(cancelled, T0.AddDays(8)));

        var opened = Sent().Run(new ApplyProviderEvent(Id, T.Pe("o1", ProviderEventKind.Opened, 0, messageId: "pm-1")), T.Ctx(T0.AddDays(80)));
        Assert.Equal(T0.AddSeconds(2), opened.SettledAt);
        // Bodies count from the settling; the envelope from the last change (an open on day 80 keeps it to day 170).
        Assert.Equal(RetentionStep.RemoveBodies, Policy.Decide(opened, T0.AddDays(81)));
        Assert.Equal(RetentionStep.Keep, Policy.Decide(opened with { BodiesRemovedAt = T0.AddDays(81) }, T0.AddDays(100)));
        Assert.Equal(RetentionStep.RemoveEmail, Policy.Decide(opened, T0.AddDays(170)));
    }

    [Fact]
    public void Forever_keeps_everything_and_a_state_from_an_old_snapshot_counts_from_its_last_change()
    {
        Assert.Equal(RetentionStep.Keep, RetentionPolicy.Forever.Decide(Sent(), T0.AddYears(10)));
        var bodiesOnly = new RetentionPolicy(TimeSpan.FromDays(1), Timeout.InfiniteTimeSpan);
        Assert.Equal(RetentionStep.RemoveBodies, bodiesOnly.Decide(Sent(), T0.AddYears(10)));
        // A snapshot written before SettledAt existed.
        var old = Sent() with { SettledAt = null };
        Assert.Equal(RetentionStep.Keep, Policy.Decide(old, old.UpdatedAt!.Value.AddDays(6)));
        Assert.Equal(RetentionStep.RemoveBodies, Policy.Decide(old, old.UpdatedAt!.Value.AddDays(7)));
        Assert.Equal(RetentionStep.Keep, Policy.Decide(EmailState.Empty(Id), T0.AddYears(1)));
    }
}

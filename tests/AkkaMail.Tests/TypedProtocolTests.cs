using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The typed protocol: decisions carry their effects, failures their kind, and one table names every event.</summary>
public class TypedProtocolTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;

    private static AcceptEmail Accept(DateTimeOffset? sendAt = null, IReadOnlyDictionary<string, string>? suppressed = null) =>
        new(Id, "u1", T.Content("ann@example.com", "bob@example.com"), "k", "fp", sendAt, suppressed);

    [Fact]
    public void An_accepted_email_is_dispatched_with_the_wait_until_it_is_due()
    {
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), EmailState.Empty(Id).Decide(Accept(), T.Ctx(T0)).Dispatch());
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.FromHours(1)),
            EmailState.Empty(Id).Decide(Accept(sendAt: T0.AddHours(1)), T.Ctx(T0)).Dispatch());
    }

    [Fact]
    public void An_email_whose_every_recipient_is_suppressed_fails_at_once_as_such_and_is_not_dispatched()
    {
        var d = EmailState.Empty(Id).Decide(Accept(suppressed: new Dictionary<string, string>
        {
            ["ann@example.com"] = "bounced", ["bob@example.com"] = "complained",
        }), T.Ctx(T0));
        Assert.Equal(SendFailureKind.AllRecipientsSuppressed, Assert.IsType<EmailSendFailed>(d.Events[1]).Kind);
        Assert.Null(d.Dispatch());
        Assert.Equal(new R.EmailAccepted(Id, EmailStatus.Failed, false), d.Reply);
    }

    [Fact]
    public void A_retried_post_hands_over_an_accepted_email_only_while_the_queue_has_not_confirmed_it()
    {
        var accepted = EmailState.Empty(Id).Run(Accept(), T.Ctx(T0));
        Assert.Equal(new EmailEffect.Dispatch(1, TimeSpan.Zero), accepted.Decide(Accept(), T.Ctx(T0.AddSeconds(1))).Dispatch());
        var dispatched = accepted.Run(new MarkDispatched(Id, 1), T.Ctx(T0));
        Assert.Null(dispatched.Decide(Accept(), T.Ctx(T0.AddSeconds(1))).Dispatch());
    }

    [Fact]
    public void A_transient_failure_dispatches_the_next_attempt_after_the_backoff()
    {
        var s = EmailState.Empty(Id).Run(Accept(), T.Ctx(T0)).Run(new BeginSendAttempt(Id, 1), T.Ctx(T0));
        var d = s.Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("busy", TimeSpan.FromSeconds(30))), T.Ctx(T0));
        Assert.Equal(new EmailEffect.Dispatch(2, TimeSpan.FromSeconds(30)), d.Dispatch());
        Assert.Equal(new R.OutcomeRecorded(Id, R.NextStep.Retry, 2, TimeSpan.FromSeconds(30)), d.Reply);
    }

    [Fact]
    public void A_permanent_failure_says_which_kind_it_is()
    {
        var sending = EmailState.Empty(Id).Run(Accept(), T.Ctx(T0)).Run(new BeginSendAttempt(Id, 1), T.Ctx(T0));
        var refused = sending.Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Permanent("550 no")), T.Ctx(T0));
        Assert.Equal(SendFailureKind.ProviderRefused, Assert.IsType<EmailSendFailed>(Assert.Single(refused.Events)).Kind);

        var lastAttempt = T.Ctx(T0) with { RetryPolicy = T.Policy with { MaxAttempts = 1 } };
        var exhausted = sending.Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("503")), lastAttempt);
        Assert.Equal(SendFailureKind.AttemptsExhausted, Assert.IsType<EmailSendFailed>(Assert.Single(exhausted.Events)).Kind);

        var pastDeadline = T.Ctx(T0.AddDays(2)) with { RetryPolicy = T.Policy with { MaxAttempts = 0, Deadline = TimeSpan.FromHours(24) } };
        var late = sending.Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("503")), pastDeadline);
        Assert.Equal(SendFailureKind.DeadlinePassed, Assert.IsType<EmailSendFailed>(Assert.Single(late.Events)).Kind);
    }

    [Theory]
    [InlineData("gave up after 5 attempts: 503", SendFailureKind.AttemptsExhausted)]
    [InlineData("gave up after 9 attempts, the retry deadline (1.00:00:00) passed: 503", SendFailureKind.DeadlinePassed)]
    [InlineData("every recipient is on the suppression list", SendFailureKind.AllRecipientsSuppressed)]
    [InlineData("550 no such domain", SendFailureKind.ProviderRefused)]
    public void The_kind_of_a_failure_from_a_journal_written_before_kinds_is_derived_from_its_reason(string reason, SendFailureKind kind)
    {
        Assert.Equal(kind, new EmailSendFailed(Id, 1, reason, T0).KindOf());
        // A persisted kind wins over the reason.
        Assert.Equal(SendFailureKind.ProviderRefused, new EmailSendFailed(Id, 1, reason, T0, SendFailureKind.ProviderRefused).KindOf());
    }

    [Fact]
    public void The_reason_texts_written_today_derive_the_kind_they_carry()
    {
        // So that a journal mixing old and new events gives each failure the same label.
        var sending = EmailState.Empty(Id).Run(Accept(), T.Ctx(T0)).Run(new BeginSendAttempt(Id, 1), T.Ctx(T0));
        var contexts = new[]
        {
            T.Ctx(T0) with { RetryPolicy = T.Policy with { MaxAttempts = 1 } },
            T.Ctx(T0.AddDays(2)) with { RetryPolicy = T.Policy with { MaxAttempts = 0, Deadline = TimeSpan.FromHours(24) } },
        };
        foreach (var ctx in contexts)
        {
            var failed = Assert.IsType<EmailSendFailed>(Assert.Single(sending.Decide(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("503")), ctx).Events));
            Assert.Equal(failed.Kind, (failed with { Kind = null }).KindOf());
        }
    }

    [Fact]
    public void The_timeline_and_the_real_time_message_name_every_event_from_one_table_and_the_providers_acceptance_is_its_own()
    {
        var s = EmailState.Empty(Id);
        var events = new IEmailEvent[]
        {
            new EmailAccepted(Id, "u1", T.Content("ann@example.com"), T0),
            new EmailDispatched(Id, 1, T0),
            new SendAttemptStarted(Id, 1, T0),
            new EmailSent(Id, 1, "pm", T0),
            new ProviderEventRecorded(Id, new ProviderEvent("a", ProviderEventKind.Accepted, "ann@example.com", T0), T0),
            new ProviderEventRecorded(Id, new ProviderEvent("d", ProviderEventKind.Delivered, "ann@example.com", T0), T0),
        };
        foreach (var e in events) s = s.Apply(e);
        Assert.Equal(events.Select(EmailEventTypes.Of), s.Timeline.Select(t => t.Type));
        Assert.Equal(new[] { "accepted", "dispatched", "sending", "sent", "accepted_by_provider", "delivered" }, s.Timeline.Select(t => t.Type));
    }

    [Fact]
    public void A_timeline_stored_before_the_table_reads_with_the_current_names()
    {
        var s = EmailState.Empty(Id).Apply(new EmailAccepted(Id, "u1", T.Content("ann@example.com"), T0));
        // As a snapshot (or a stored view) of the old code holds it: the provider's acceptance named like ours.
        s = s with { Timeline = s.Timeline.Add(new TimelineEntry(T0, "accepted", "ann@example.com")) };
        var view = EmailView.Of(s);
        Assert.Equal(new[] { "accepted", "accepted_by_provider" }, view.Timeline.Select(t => t.Type));
        var stored = view with { Timeline = new[] { view.Timeline[0], view.Timeline[1] with { Type = "accepted" } } };
        Assert.Equal(new[] { "accepted", "accepted_by_provider" }, stored.WithCurrentEventTypes().Timeline.Select(t => t.Type));
        Assert.Same(view, view.WithCurrentEventTypes());
    }
}

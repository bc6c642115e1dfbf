using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>What the reconciliation job relies on in the domain: which emails await their provider's reports (its
/// index), and the "no report from provider" marker, recorded once, only when due.</summary>
public class NoProviderReportTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;
    private static readonly TimeSpan Retention = TimeSpan.FromDays(3);

    /// <summary>Sent through <paramref name="provider"/> at T0 + 2 s to a@ and b@.</summary>
    private static EmailState SentThrough(string? provider = "mailgun")
    {
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("a@example.com", "b@example.com")), T.Ctx(T0));
        s = s.Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)));
        return s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pm-1", provider)), T.Ctx(T0.AddSeconds(2)));
    }

    private static EmailState Report(EmailState s, string eventId, ProviderEventKind kind, string recipient) =>
        s.Run(new ApplyProviderEvent(Id, new ProviderEvent(eventId, kind, recipient, T0.AddMinutes(1), "pm-1", Provider: "mailgun")),
            T.Ctx(T0.AddMinutes(1)));

    private static (EmailState State, R.NoProviderReportMarked Reply, IReadOnlyList<IEmailEvent> Events) Mark(EmailState s, DateTimeOffset at,
        string provider = "mailgun")
    {
        var next = s.Run(new MarkNoProviderReport(Id, provider, Retention), T.Ctx(at), out var reply, out var events);
        return (next, Assert.IsType<R.NoProviderReportMarked>(reply), events);
    }

    [Fact]
    public void An_email_awaits_reports_until_every_recipient_is_final_and_the_view_indexes_it_by_provider_and_send_time()
    {
        var sent = SentThrough();
        Assert.True(sent.AwaitsProviderReport);
        var view = EmailView.Of(sent);
        Assert.Equal("mailgun", view.AwaitingReportFrom);
        Assert.Equal(T0.AddSeconds(2), view.AwaitingReportSince);

        var accepted = Report(sent, "acc-a", ProviderEventKind.Accepted, "a@example.com");
        var deferred = Report(accepted, "tmp-b", ProviderEventKind.TemporaryFailure, "b@example.com");
        Assert.True(deferred.AwaitsProviderReport); // accepted and deferred are no final fate
        var oneFinal = Report(deferred, "dlv-a", ProviderEventKind.Delivered, "a@example.com");
        Assert.True(oneFinal.AwaitsProviderReport);
        var allFinal = Report(oneFinal, "bnc-b", ProviderEventKind.PermanentFailure, "b@example.com");
        Assert.False(allFinal.AwaitsProviderReport);
        Assert.Null(EmailView.Of(allFinal).AwaitingReportFrom);
        Assert.Null(EmailView.Of(allFinal).AwaitingReportSince);
    }

    [Fact]
    public void Only_a_sent_email_whose_provider_is_known_awaits_reports()
    {
        Assert.False(SentThrough(provider: null).AwaitsProviderReport); // the sandbox records none
        var queued = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("a@example.com")), T.Ctx(T0));
        Assert.False(queued.AwaitsProviderReport);
        Assert.Null(EmailView.Of(queued).AwaitingReportFrom);
    }

    [Fact]
    public void Before_the_providers_retention_has_passed_nothing_is_marked()
    {
        var (state, reply, events) = Mark(SentThrough(), T0.AddSeconds(2) + Retention - TimeSpan.FromSeconds(1));
        Assert.False(reply.Marked);
        Assert.Empty(events);
        Assert.True(state.AwaitsProviderReport);
    }

    [Fact]
    public void After_it_the_recipients_without_a_final_fate_are_marked_once_on_the_timeline()
    {
        var s = Report(SentThrough(), "dlv-a", ProviderEventKind.Delivered, "a@example.com");
        var at = T0.AddSeconds(2) + Retention;
        var (marked, reply, events) = Mark(s, at);
        Assert.True(reply.Marked);
        var evt = Assert.IsType<ProviderReportMissing>(Assert.Single(events));
        Assert.Equal(new[] { "b@example.com" }, evt.Recipients);
        Assert.Equal("mailgun", evt.Provider);
        var entry = Assert.Single(marked.Timeline, t => t.Type == EmailEventTypes.NoReportFromProvider);
        Assert.Equal("b@example.com", entry.Recipient);
        Assert.Equal("mailgun", entry.Provider);
        Assert.Contains("no report from provider", entry.Detail);
        Assert.Equal(at, marked.NoProviderReportAt);
        // Nothing else changes: b@ is still without a fate, the email still sent; it no longer awaits reports.
        Assert.Equal(RecipientStatus.Pending, marked.Recipients["b@example.com"].Status);
        Assert.Equal(EmailStatus.Sent, marked.Status);
        Assert.False(marked.AwaitsProviderReport);
        Assert.Null(EmailView.Of(marked).AwaitingReportFrom);

        var (_, again, none) = Mark(marked, at.AddDays(1));
        Assert.False(again.Marked);
        Assert.Empty(none);
        // A late report still applies.
        var late = Report(marked, "dlv-b", ProviderEventKind.Delivered, "b@example.com");
        Assert.Equal(EmailStatus.Delivered, late.Status);
    }

    [Fact]
    public void Another_providers_marker_or_an_email_with_every_fate_known_is_not_recorded()
    {
        var at = T0.AddDays(10);
        Assert.False(Mark(SentThrough(), at, provider: "smtp").Reply.Marked);
        var final = Report(Report(SentThrough(), "d-a", ProviderEventKind.Delivered, "a@example.com"), "d-b", ProviderEventKind.Delivered, "b@example.com");
        Assert.False(Mark(final, at).Reply.Marked);
        Assert.False(Mark(EmailState.Empty(Id), at).Reply.Marked);
    }

    [Fact]
    public void The_marker_replays_to_the_same_state()
    {
        var (marked, _, events) = Mark(SentThrough(), T0.AddDays(4));
        var replayed = SentThrough();
        foreach (var e in events) replayed = replayed.Apply(e);
        Assert.Equal(marked.Version, replayed.Version);
        Assert.Equal(marked.Timeline, replayed.Timeline);
        Assert.Equal(EmailEventTypes.NoReportFromProvider, EmailEventTypes.Of(events[0]));
        Assert.Contains(EmailEventTypes.NoReportFromProvider, EmailEventTypes.All);
    }
}

using System.Collections.Concurrent;
using System.Text;
using AkkaMail.Domain;
using AkkaMail.Providers;
using AkkaMail.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The provider route (breaker per provider, first closed one wins) and what the journal keeps of it: the
/// attempt's provider, and reports applied only from the provider the email went out through.</summary>
public sealed class ProviderFailoverTests
{
    private const string Id = "e1";
    private static readonly DateTimeOffset T0 = T.T0;

    private static EmailState SentThrough(string? provider) => EmailState.Empty(Id)
        .Run(new AcceptEmail(Id, "u1", T.OneRecipient), T.Ctx(T0))
        .Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)))
        .Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pmid-1", provider)), T.Ctx(T0.AddSeconds(2)));

    [Fact]
    public void The_provider_that_accepted_an_attempt_is_recorded_and_shown_on_the_timeline()
    {
        var s = SentThrough("smtp");
        Assert.Equal("smtp", s.Provider);
        var sent = Assert.Single(s.Timeline, t => t.Type == EmailEventTypes.Sent);
        Assert.Equal(("pmid-1", "smtp"), (sent.Detail, sent.Provider));
        Assert.Equal("smtp", ReadModel.EmailView.Of(s).Timeline.Single(t => t.Type == EmailEventTypes.Sent).Provider);
    }

    [Fact]
    public void A_failed_attempt_records_the_provider_the_route_chose_and_old_journals_read_without_one()
    {
        var retrying = EmailState.Empty(Id)
            .Run(new AcceptEmail(Id, "u1", T.OneRecipient), T.Ctx(T0))
            .Run(new BeginSendAttempt(Id, 1), T.Ctx(T0.AddSeconds(1)))
            .Run(new RecordSendOutcome(Id, 1, new SendOutcome.Transient("mailgun 503", Provider: "mailgun")), T.Ctx(T0.AddSeconds(2)));
        Assert.Equal("mailgun", Assert.Single(retrying.Timeline, t => t.Type == EmailEventTypes.RetryScheduled).Provider);
        var failed = retrying.Run(new BeginSendAttempt(Id, 2), T.Ctx(T0.AddMinutes(1)))
            .Run(new RecordSendOutcome(Id, 2, new SendOutcome.Permanent("smtp 550", "smtp")), T.Ctx(T0.AddMinutes(1)));
        Assert.Equal("smtp", Assert.Single(failed.Timeline, t => t.Type == EmailEventTypes.Failed).Provider);

        var serializer = new EmailEventSerializer(null!);
        var old = Encoding.UTF8.GetBytes("""{"emailId":"e1","attempt":1,"reason":"busy","nextAttemptAt":"2026-11-27T12:00:02+00:00","at":"2026-11-27T12:00:00+00:00"}""");
        Assert.Null(Assert.IsType<SendRetryScheduled>(serializer.FromBinary(old, serializer.Manifest(new SendRetryScheduled("x", 1, "r", T0, T0)))).Provider);
    }

    [Fact]
    public async Task The_route_names_the_provider_of_every_outcome()
    {
        var mailgun = new ScriptedProvider("mailgun") { Next = () => new SendOutcome.Permanent("mailgun 400: bad") };
        var route = new ProviderRoute([mailgun, new ScriptedProvider("smtp")], Breaker, NullLogger.Instance);
        Assert.Equal("mailgun", Assert.IsType<SendOutcome.Permanent>(await route.SendAsync(Email(0), default)).Provider);
        mailgun.Next = () => new SendOutcome.Transient("mailgun 503");
        Assert.Equal("mailgun", Assert.IsType<SendOutcome.Transient>(await route.SendAsync(Email(1), default)).Provider);
    }

    [Fact]
    public void A_report_from_another_provider_than_the_one_that_sent_is_ignored_and_its_own_is_applied()
    {
        var s = SentThrough("smtp");
        // Mailgun's report of an earlier attempt it accepted (then timed out): another message id, another provider.
        var stray = T.Pe("mg-1", ProviderEventKind.Delivered, 5, messageId: "mailgun-id") with { Provider = "mailgun" };
        var d = s.Decide(new ApplyProviderEvent(Id, stray), T.Ctx(T0.AddMinutes(5)));
        Assert.Empty(d.Events);
        Assert.Equal(R.ProviderEventResult.OtherProvider, Assert.IsType<R.ProviderEventApplied>(d.Reply).Result);

        var own = T.Pe("smtp-1", ProviderEventKind.Accepted, 5) with { Provider = "smtp" };
        var applied = s.Run(new ApplyProviderEvent(Id, own), T.Ctx(T0.AddMinutes(5)));
        Assert.Equal(RecipientStatus.Accepted, applied.Recipients.Values.Single().Status);
        Assert.Equal("smtp", applied.Timeline[^1].Provider);
    }

    [Fact]
    public void Without_a_recorded_provider_on_either_side_reports_apply_as_before()
    {
        var old = SentThrough(null);
        Assert.Single(old.Decide(new ApplyProviderEvent(Id, T.Pe("a", ProviderEventKind.Delivered, 5) with { Provider = "mailgun" }),
            T.Ctx(T0.AddMinutes(5))).Events);
        Assert.Single(SentThrough("mailgun").Decide(new ApplyProviderEvent(Id, T.Pe("b", ProviderEventKind.Delivered, 5)),
            T.Ctx(T0.AddMinutes(5))).Events);
    }

    [Fact]
    public void A_sent_event_written_before_providers_were_recorded_reads_without_one_and_a_new_one_keeps_it()
    {
        var serializer = new EmailEventSerializer(null!);
        var old = Encoding.UTF8.GetBytes("""{"emailId":"e1","attempt":1,"providerMessageId":"pm-1","at":"2026-11-27T12:00:00+00:00"}""");
        var sent = Assert.IsType<EmailSent>(serializer.FromBinary(old, "email-sent.v1"));
        Assert.Null(sent.Provider);
        Assert.DoesNotContain("provider\"", Encoding.UTF8.GetString(serializer.ToBinary(sent)));
        var back = Assert.IsType<EmailSent>(serializer.FromBinary(serializer.ToBinary(sent with { Provider = "smtp" }), "email-sent.v1"));
        Assert.Equal("smtp", back.Provider);
        var recorded = new ProviderEventRecorded("e1", T.Pe("x", ProviderEventKind.Delivered, 1) with { Provider = "mailgun" }, T0);
        Assert.Equal("mailgun", Assert.IsType<ProviderEventRecorded>(
            serializer.FromBinary(serializer.ToBinary(recorded), serializer.Manifest(recorded))).Event.Provider);
    }

    // ---------------------------------------------------------------- the route

    private sealed class ScriptedProvider(string name) : IEmailProvider
    {
        public Func<SendOutcome> Next { get; set; } = () => new SendOutcome.Sent("id", name);
        public ConcurrentQueue<string> Calls { get; } = new();
        public string Name => name;

        public Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
        {
            Calls.Enqueue(email.EmailId);
            return Task.FromResult(Next());
        }
    }

    private static readonly BreakerSettings Breaker = new(Failures: 3, Window: TimeSpan.FromSeconds(30),
        BreakDuration: TimeSpan.FromMilliseconds(500), LongReset: TimeSpan.FromSeconds(60));

    private static OutgoingEmail Email(int i) => new($"e{i}", 1, T.OneRecipient);

    [Fact]
    public async Task After_a_run_of_transient_failures_mail_goes_through_the_next_provider_and_comes_back_when_the_probe_succeeds()
    {
        var clock = new FakeTimeProvider(T0);
        var mailgun = new ScriptedProvider("mailgun") { Next = () => new SendOutcome.Transient("mailgun 503: down") };
        var smtp = new ScriptedProvider("smtp");
        var route = new ProviderRoute([mailgun, smtp], Breaker, NullLogger.Instance, clock: clock);

        for (var i = 0; i < 3; i++) Assert.IsType<SendOutcome.Transient>(await route.SendAsync(Email(i), default));
        Assert.Empty(smtp.Calls);
        // The breaker is open: the next sends go to SMTP, and Mailgun is not called at all.
        for (var i = 3; i < 8; i++) Assert.Equal("smtp", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(i), default)).Provider);
        Assert.Equal(3, mailgun.Calls.Count);
        Assert.Equal(5, smtp.Calls.Count);

        // Mailgun is back; after the break one probe reaches it, succeeds, and the breaker closes.
        mailgun.Next = () => new SendOutcome.Sent("mg", "mailgun");
        clock.Advance(Breaker.BreakDuration + TimeSpan.FromMilliseconds(1));
        for (var i = 8; i < 12; i++) Assert.Equal("mailgun", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(i), default)).Provider);
        Assert.Equal(5, smtp.Calls.Count);
        Assert.Equal(Polly.CircuitBreaker.CircuitState.Closed, route.States[0].State);
        // No email went through both.
        Assert.Empty(mailgun.Calls.Intersect(smtp.Calls).Except(["e0", "e1", "e2"]));
    }

    [Fact]
    public async Task Successes_just_before_an_outage_do_not_hold_the_breaker_closed()
    {
        // On a fake clock: the breaker's half-open after its (short) break must not come between the calls below.
        var clock = new FakeTimeProvider(T0);
        var mailgun = new ScriptedProvider("mailgun");
        var smtp = new ScriptedProvider("smtp");
        var route = new ProviderRoute([mailgun, smtp], Breaker, NullLogger.Instance, clock: clock);
        for (var i = 0; i < 3; i++) await route.SendAsync(Email(i), default);
        mailgun.Next = () => new SendOutcome.Transient("mailgun 503: down");
        for (var i = 3; i < 6; i++) Assert.IsType<SendOutcome.Transient>(await route.SendAsync(Email(i), default));
        Assert.Equal("smtp", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(6), default)).Provider);
        Assert.Equal(6, mailgun.Calls.Count);
    }

    [Fact]
    public async Task A_rate_limit_with_a_long_reset_takes_the_provider_off_the_route_until_the_reset()
    {
        var clock = new FakeTimeProvider(T0);
        var mailgun = new ScriptedProvider("mailgun") { Next = () => new SendOutcome.Transient("mailgun 429: limit", TimeSpan.FromMinutes(5)) };
        var smtp = new ScriptedProvider("smtp");
        var route = new ProviderRoute([mailgun, smtp], Breaker, NullLogger.Instance, clock: clock);

        Assert.IsType<SendOutcome.Transient>(await route.SendAsync(Email(0), default));
        Assert.Equal("smtp", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(1), default)).Provider);
        Assert.True(route.States[0].HeldOff);
        mailgun.Next = () => new SendOutcome.Sent("mg", "mailgun");
        clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        Assert.Equal("mailgun", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(2), default)).Provider);
        // A short wait (under long-reset) is only a transient failure: the provider stays on the route.
        mailgun.Next = () => new SendOutcome.Transient("mailgun 429: limit", TimeSpan.FromSeconds(2));
        await route.SendAsync(Email(3), default);
        Assert.False(route.States[0].HeldOff);
    }

    private sealed class LookingProvider(string name, string? accepted) : IEmailProvider, IAcceptanceLookup
    {
        public int Sends;
        public string Name => name;
        public Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
        {
            Interlocked.Increment(ref Sends);
            return Task.FromResult<SendOutcome>(new SendOutcome.Transient("mailgun 429", TimeSpan.FromMinutes(5)));
        }
        public Task<string?> FindAcceptedAsync(OutgoingEmail email, CancellationToken ct) => Task.FromResult(accepted);
    }

    [Fact]
    public async Task A_retry_going_through_another_provider_first_asks_the_one_that_can_tell_whether_it_accepted_an_earlier_attempt()
    {
        var clock = new FakeTimeProvider(T0);
        var mailgun = new LookingProvider("mailgun", accepted: "mg-earlier");
        var smtp = new ScriptedProvider("smtp");
        var route = new ProviderRoute([new Observability.MeasuredEmailProvider(mailgun), smtp], Breaker, NullLogger.Instance, clock: clock);
        await route.SendAsync(Email(0), default); // Mailgun rate limited for 5 minutes: off the route.
        var retry = Assert.IsType<SendOutcome.Sent>(await route.SendAsync(new OutgoingEmail("e0", 2, T.OneRecipient), default));
        Assert.Equal(("mg-earlier", "mailgun"), (retry.ProviderMessageId, retry.Provider));
        Assert.Empty(smtp.Calls);
        // A first attempt never looks; a retry Mailgun has nothing of goes through SMTP.
        Assert.Equal("smtp", Assert.IsType<SendOutcome.Sent>(await route.SendAsync(Email(1), default)).Provider);
        var nothing = new ProviderRoute([new LookingProvider("mailgun", accepted: null), smtp], Breaker, NullLogger.Instance, clock: clock);
        await nothing.SendAsync(Email(2), default);
        Assert.Equal("smtp", Assert.IsType<SendOutcome.Sent>(await nothing.SendAsync(new OutgoingEmail("e2", 2, T.OneRecipient), default)).Provider);
    }

    [Fact]
    public async Task With_every_provider_unavailable_the_attempt_is_transient_and_nothing_is_called()
    {
        var clock = new FakeTimeProvider(T0);
        var a = new ScriptedProvider("mailgun") { Next = () => new SendOutcome.Transient("429", TimeSpan.FromMinutes(10)) };
        var b = new ScriptedProvider("smtp") { Next = () => new SendOutcome.Transient("421", TimeSpan.FromMinutes(2)) };
        var route = new ProviderRoute([a, b], Breaker, NullLogger.Instance, clock: clock);
        await route.SendAsync(Email(0), default);
        await route.SendAsync(Email(1), default);
        var outcome = Assert.IsType<SendOutcome.Transient>(await route.SendAsync(Email(2), default));
        Assert.StartsWith("no provider available", outcome.Reason);
        Assert.Equal(TimeSpan.FromMinutes(2), outcome.RetryAfter);
        Assert.Equal((1, 1), (a.Calls.Count, b.Calls.Count));
    }
}

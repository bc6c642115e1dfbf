using System.Collections.Concurrent;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using AkkaMail.ReadModel;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The reconciliation job's pieces with fakes around it: what it asks the read model and the provider's history,
/// what it applies through the gateway, when it asks for the "no report" marker, and its pause on a rate limit.</summary>
public class ReconciliationJobTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly ReconciliationSettings Knobs = new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(30), TimeSpan.FromDays(3), 2);
    private readonly FakeTimeProvider _clock = new(T.T0);

    public ReconciliationJobTests() : base(TestActorSystems.Create(T.Hocon)) { }

    private sealed class AwaitingStore(params SentPosition[] awaiting) : IEmailReadStore
    {
        public readonly ConcurrentQueue<(string Provider, SentPosition After, DateTimeOffset UpTo)> Queries = new();

        public Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
            CancellationToken ct = default)
        {
            Queries.Enqueue((provider, after, sentUpTo));
            IReadOnlyList<SentPosition> page = awaiting
                .Where(p => p.SentAtMs <= sentUpTo.ToUnixTimeMilliseconds()
                            && (p.SentAtMs > after.SentAtMs || (p.SentAtMs == after.SentAtMs && string.CompareOrdinal(p.Id, after.Id) > 0)))
                .OrderBy(p => p.SentAtMs).ThenBy(p => p.Id, StringComparer.Ordinal).Take(limit).ToList();
            return Task.FromResult(page);
        }

        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailView?> GetAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default) => throw new NotSupportedException();
    }

    private sealed class History(Func<string, ProviderHistory> answer) : IProviderEventHistory
    {
        public readonly ConcurrentQueue<(string EmailId, DateTimeOffset Since)> Asked = new();
        public string Provider => "mailgun";

        public Task<ProviderHistory> FindEventsAsync(string emailId, DateTimeOffset since, CancellationToken ct)
        {
            Asked.Enqueue((emailId, since));
            return Task.FromResult(answer(emailId));
        }
    }

    /// <summary>Applies each event id once per email, as the email actors do.</summary>
    private sealed class Gateway : IEmailGateway
    {
        public readonly ConcurrentDictionary<(string, string), bool> Seen = new();

        public Task<ProviderEventResult> ApplyProviderEventAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default) =>
            Task.FromResult<ProviderEventResult>(Seen.TryAdd((emailId!, evt.EventId), true)
                ? new ProviderEventResult.Applied(emailId!)
                : new ProviderEventResult.Duplicate(emailId!));

        public Task<AcceptResult> AcceptAsync(EmailSubmission submission, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<CancelResult> CancelAsync(string emailId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailStateResult> GetStateAsync(string emailId, CancellationToken ct = default) => throw new NotSupportedException();
    }

    private static ProviderEvent Event(string id, ProviderEventKind kind) =>
        new(id, kind, "a@example.com", T.T0, "pm-1", Provider: "mailgun");

    private IActorRef Job(IEmailReadStore store, IProviderEventHistory history, IEmailGateway gateway, IActorRef manager) =>
        Sys.ActorOf(Props.Create(() => new ReconciliationActor(history, store, gateway, manager, Knobs, _clock, TimeSpan.FromSeconds(3))));

    private ReconciliationRun Run(IActorRef job) => job.Ask<ReconciliationRun>(ReconciliationActor.RunNow.Instance, TimeSpan.FromSeconds(10)).Result;

    private static SentPosition SentAt(string id, DateTimeOffset at) => new(at.ToUnixTimeMilliseconds(), id);

    [Fact]
    public void Emails_older_than_the_minimum_age_are_asked_about_page_by_page_and_their_events_applied_once()
    {
        var store = new AwaitingStore(SentAt("e1", T.T0), SentAt("e2", T.T0.AddMinutes(1)), SentAt("e3", T.T0.AddMinutes(2)),
            SentAt("young", T.T0.AddMinutes(40)));
        var history = new History(_ => new ProviderHistory.Found([Event("acc", ProviderEventKind.Accepted), Event("dlv", ProviderEventKind.Delivered)]));
        var gateway = new Gateway();
        var manager = CreateTestProbe();
        _clock.Advance(TimeSpan.FromMinutes(60));
        var job = Job(store, history, gateway, manager.Ref);

        var run = Run(job);
        Assert.Null(run.Error);
        Assert.Equal(3, run.Checked);
        Assert.Equal(6, run.Applied);
        Assert.Equal(0, run.Marked);
        // Sent at most 30 min before the run's start, asked as far back as the provider keeps events, the provider named.
        Assert.All(store.Queries, q => Assert.Equal(T.T0.AddMinutes(30), q.UpTo));
        Assert.All(store.Queries, q => Assert.Equal("mailgun", q.Provider));
        Assert.Equal(new[] { "e1", "e2", "e3" }, history.Asked.Select(a => a.EmailId));
        Assert.All(history.Asked, a => Assert.Equal(T.T0.AddMinutes(60) - Knobs.ProviderRetention, a.Since));
        Assert.Equal(2, store.Queries.Count); // a full page of 2, then the rest
        manager.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // none past the retention

        var again = Run(job);
        Assert.Equal(0, again.Applied);
        Assert.Equal(6, again.Duplicates);
    }

    [Fact]
    public async Task Past_the_providers_retention_the_email_is_asked_to_mark_no_report_after_the_last_look()
    {
        var store = new AwaitingStore(SentAt("old", T.T0), SentAt("recent", T.T0.AddDays(2)));
        var history = new History(_ => new ProviderHistory.Found([]));
        var manager = CreateTestProbe();
        _clock.Advance(TimeSpan.FromDays(3) + TimeSpan.FromMinutes(1));
        var job = Job(store, history, new Gateway(), manager.Ref);

        var running = job.Ask<ReconciliationRun>(ReconciliationActor.RunNow.Instance, TimeSpan.FromSeconds(10));
        var mark = manager.ExpectMsg<EmailCommands.MarkNoProviderReport>();
        Assert.Equal(new EmailCommands.MarkNoProviderReport("old", "mailgun", TimeSpan.FromDays(3)), mark);
        Assert.Contains(history.Asked, a => a.EmailId == "old"); // looked before marking
        manager.Reply(new R.NoProviderReportMarked("old", true));
        var run = await running;
        Assert.Equal(2, run.Checked);
        Assert.Equal(1, run.Marked);
        manager.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // "recent" is within the retention
    }

    [Fact]
    public void A_rate_limit_pauses_the_job_for_the_wait_asked_and_no_run_asks_the_provider_before_then()
    {
        var store = new AwaitingStore(SentAt("e1", T.T0), SentAt("e2", T.T0));
        var limited = true;
        var history = new History(_ => limited
            ? new ProviderHistory.RateLimited(TimeSpan.FromMinutes(2), "mailgun 429: too many requests")
            : new ProviderHistory.Found([]));
        _clock.Advance(TimeSpan.FromHours(1));
        var job = Job(store, history, new Gateway(), CreateTestProbe().Ref);

        var run = Run(job);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMinutes(2), run.PausedUntil);
        Assert.Equal(0, run.Checked);
        Assert.Single(history.Asked); // stopped at the first answer

        limited = false;
        var paused = Run(job);
        Assert.NotNull(paused.PausedUntil);
        Assert.Single(history.Asked);

        _clock.Advance(TimeSpan.FromMinutes(2));
        var resumed = Run(job);
        Assert.Null(resumed.PausedUntil);
        Assert.Equal(2, resumed.Checked);
    }

    [Fact]
    public void An_unreachable_history_stops_the_run_with_its_reason()
    {
        var store = new AwaitingStore(SentAt("e1", T.T0), SentAt("e2", T.T0));
        var history = new History(_ => new ProviderHistory.Unavailable("mailgun 503: Service Unavailable"));
        _clock.Advance(TimeSpan.FromHours(1));
        var run = Run(Job(store, history, new Gateway(), CreateTestProbe().Ref));
        Assert.Equal("mailgun 503: Service Unavailable", run.Error);
        Assert.Null(run.PausedUntil);
        Assert.Single(history.Asked);
    }
}

using Microsoft.Extensions.Time.Testing;
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.ReadModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>
/// The gateway over real email actors (in-memory journal): every typed result, each from the situation that produces
/// it, and <c>Unavailable</c> when the manager does not answer within the ask timeout.
/// </summary>
public class GatewayTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly FakeTimeProvider _clock = new(T.T0);
    private readonly TestProbe _dispatcher;
    private readonly MessageIdIndex _index = new();
    private IActorRef? _manager;

    public GatewayTests() : base(TestActorSystems.Create(T.Hocon))
    {
        _dispatcher = CreateTestProbe();
    }

    /// <summary>A gateway whose email manager is <paramref name="manager"/> (real email actors when null).</summary>
    private IEmailGateway Gateway(IActorRef? manager = null, TimeSpan? askTimeout = null, bool register = true)
    {
        var settings = Settings.Fast() with { AskTimeout = askTimeout ?? TimeSpan.FromSeconds(5) };
        if (manager is null)
        {
            var deps = new EmailActorDeps(settings, _dispatcher.Ref, null, _clock);
            manager = _manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
        }
        var registry = new ActorRegistry();
        if (register) registry.Register<EmailManagerActor>(manager);
        var services = new ServiceCollection()
            .AddSingleton<IReadOnlyActorRegistry>(registry)
            .AddSingleton<IRequiredActor<EmailManagerActor>, RequiredActor<EmailManagerActor>>()
            .AddSingleton(settings)
            .AddSingleton<IEmailReadStore>(_index)
            .AddSingleton(typeof(Microsoft.Extensions.Logging.ILogger<>), typeof(NullLogger<>))
            .AddEmailGateway()
            .BuildServiceProvider();
        return services.GetRequiredService<IEmailGateway>();
    }

    private static EmailSubmission Submission(string id, string? fingerprint = null, DateTimeOffset? sendAt = null) =>
        new(id, "u1", T.Content("ann@example.com", "bob@example.com"), fingerprint is null ? null : "key", fingerprint, sendAt);

    /// <summary>Drops the first copy of every command (as a shard being handed over drops what reaches it), then
    /// forwards to real email actors.</summary>
    private sealed class DropsFirstCopy : ReceiveActor
    {
        private readonly HashSet<string> _seen = [];

        public DropsFirstCopy(IActorRef inner) => Receive<IEmailCommand>(c =>
        {
            if (_seen.Add(c.GetType().Name + c.EmailId)) return;
            inner.Forward(c);
        });
    }

    [Fact]
    public async Task A_command_lost_on_the_way_is_sent_again_within_the_ask_timeout()
    {
        var deps = new EmailActorDeps(Settings.Fast(), _dispatcher.Ref, null, _clock);
        var emails = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
        var lossy = Sys.ActorOf(Props.Create(() => new DropsFirstCopy(emails)));
        var gateway = Gateway(lossy, askTimeout: TimeSpan.FromSeconds(3));

        Assert.IsType<AcceptResult.Accepted>(await gateway.AcceptAsync(Submission("lossy-1")));
        Assert.IsType<EmailStateResult.Found>(await gateway.GetStateAsync("lossy-1"));
        Assert.IsType<CancelResult.Cancelled>(await gateway.CancelAsync("lossy-1"));
    }

    [Fact]
    public async Task Accept_answers_accepted_then_existing_then_a_conflict_for_another_body_under_the_same_key()
    {
        var gateway = Gateway();
        Assert.Equal(new AcceptResult.Accepted("e1", EmailStatus.Queued, Existing: false), await gateway.AcceptAsync(Submission("e1", "fp-1")));
        Assert.Equal(new AcceptResult.Accepted("e1", EmailStatus.Queued, Existing: true), await gateway.AcceptAsync(Submission("e1", "fp-1")));
        Assert.Equal(new AcceptResult.IdempotencyConflict("e1"), await gateway.AcceptAsync(Submission("e1", "fp-2")));
    }

    [Fact]
    public async Task Cancel_answers_cancelled_unknown_and_cannot_cancel_with_the_status()
    {
        var gateway = Gateway();
        Assert.Equal(new CancelResult.Unknown("nope"), await gateway.CancelAsync("nope"));

        await gateway.AcceptAsync(Submission("e1", sendAt: T.T0.AddHours(1)));
        Assert.Equal(new CancelResult.Cancelled("e1"), await gateway.CancelAsync("e1"));
        Assert.Equal(new CancelResult.Cancelled("e1"), await gateway.CancelAsync("e1"));   // again: still cancelled

        await gateway.AcceptAsync(Submission("e2"));
        await SendAsync("e2", "pm-2");
        Assert.Equal(new CancelResult.CannotCancel("e2", EmailStatus.Sent), await gateway.CancelAsync("e2"));
    }

    [Fact]
    public async Task A_provider_event_is_applied_once_then_a_duplicate_and_refused_when_its_message_id_is_another_emails()
    {
        var gateway = Gateway();
        await gateway.AcceptAsync(Submission("e1"));
        await SendAsync("e1", "<pm-1@mg>");
        var delivered = new ProviderEvent("ev-1", ProviderEventKind.Delivered, "ann@example.com", T.T0, "pm-1@mg");
        Assert.Equal(new ProviderEventResult.Applied("e1"), await gateway.ApplyProviderEventAsync("e1", delivered));
        Assert.Equal(new ProviderEventResult.Duplicate("e1"), await gateway.ApplyProviderEventAsync("e1", delivered));
        var altered = delivered with { EventId = "ev-2", ProviderMessageId = "pm-other@mg" };
        Assert.Equal(new ProviderEventResult.MessageIdMismatch("e1"), await gateway.ApplyProviderEventAsync("e1", altered));
        Assert.Equal(2, (await gateway.GetStateAsync("e1") as EmailStateResult.Found)!.State.Recipients.Count);
    }

    [Fact]
    public async Task Without_our_id_the_email_is_found_by_the_provider_message_id_else_it_is_unknown_or_not_yet_findable()
    {
        var gateway = Gateway();
        await gateway.AcceptAsync(Submission("e1"));
        _index.Ids["pm-1@mg"] = "e1";
        var opened = new ProviderEvent("ev-1", ProviderEventKind.Opened, "ann@example.com", T.T0, "pm-1@mg");
        Assert.Equal(new ProviderEventResult.Applied("e1"), await gateway.ApplyProviderEventAsync(null, opened));

        Assert.IsType<ProviderEventResult.UnknownEmail>(await gateway.ApplyProviderEventAsync(null, opened with { ProviderMessageId = "pm-none@mg" }));
        Assert.IsType<ProviderEventResult.UnknownEmail>(await gateway.ApplyProviderEventAsync(null, opened with { ProviderMessageId = null }));
        Assert.IsType<ProviderEventResult.UnknownEmail>(await gateway.ApplyProviderEventAsync("nope", opened));

        _index.Behind = true;   // the send that produced this message id is in the journal, not yet in the index
        Assert.IsType<ProviderEventResult.Unavailable>(await gateway.ApplyProviderEventAsync(null, opened with { ProviderMessageId = "pm-9@mg" }));
    }

    [Fact]
    public async Task The_state_is_found_for_an_accepted_email_and_unknown_otherwise()
    {
        var gateway = Gateway();
        await gateway.AcceptAsync(Submission("e1"));
        var found = Assert.IsType<EmailStateResult.Found>(await gateway.GetStateAsync("e1"));
        Assert.Equal(("e1", SendPhase.Queued, 1L), (found.State.EmailId, found.State.Phase, found.State.Version));
        Assert.Equal(new EmailStateResult.Unknown("nope"), await gateway.GetStateAsync("nope"));
    }

    [Fact]
    public async Task A_manager_that_does_not_answer_within_the_ask_timeout_makes_every_result_unavailable()
    {
        var silent = CreateTestProbe();
        var gateway = Gateway(silent.Ref, askTimeout: TimeSpan.FromMilliseconds(300));
        var evt = new ProviderEvent("ev-1", ProviderEventKind.Delivered, "ann@example.com", T.T0);
        Assert.Equal(new AcceptResult.Unavailable("e1"), await gateway.AcceptAsync(Submission("e1")));
        Assert.Equal(new CancelResult.Unavailable("e1"), await gateway.CancelAsync("e1"));
        Assert.IsType<ProviderEventResult.Unavailable>(await gateway.ApplyProviderEventAsync("e1", evt));
        Assert.Equal(new EmailStateResult.Unavailable("e1"), await gateway.GetStateAsync("e1"));
        // Each was asked of the manager, typed (and asked again while time remained).
        var asked = silent.ReceiveWhile<IEmailCommand>(TimeSpan.FromMilliseconds(200), m => (IEmailCommand)m).Select(c => c.GetType()).Distinct().ToList();
        Assert.Equal([typeof(AcceptEmail), typeof(CancelEmail), typeof(ApplyProviderEvent), typeof(GetEmailState)], asked);
    }

    [Fact]
    public async Task A_manager_never_registered_is_waited_for_up_to_the_ask_timeout_then_unavailable()
    {
        var gateway = Gateway(CreateTestProbe().Ref, askTimeout: TimeSpan.FromMilliseconds(300), register: false);
        var started = DateTime.UtcNow;
        Assert.Equal(new AcceptResult.Unavailable("e1"), await gateway.AcceptAsync(Submission("e1")));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Building_the_gateway_needs_no_actor_system_the_manager_is_looked_up_at_call_time()
    {
        var lookedUp = 0;
        var manager = CreateTestProbe();
        var registry = new ActorRegistry();
        registry.Register<EmailManagerActor>(manager.Ref);
        var services = new ServiceCollection()
            .AddSingleton<IRequiredActor<EmailManagerActor>>(_ =>
            {
                lookedUp++;
                return new RequiredActor<EmailManagerActor>(registry);
            })
            .AddSingleton(Settings.Fast())
            .AddSingleton<IEmailReadStore>(_index)
            .AddSingleton(typeof(Microsoft.Extensions.Logging.ILogger<>), typeof(NullLogger<>))
            .AddEmailGateway()
            .BuildServiceProvider();
        var gateway = services.GetRequiredService<IEmailGateway>();
        Assert.Equal(0, lookedUp);
        var cancel = gateway.CancelAsync("e1");
        manager.ExpectMsg<CancelEmail>();
        manager.Reply(new R.Cancelled("e1"));
        Assert.Equal(new CancelResult.Cancelled("e1"), await cancel);
        Assert.Equal(1, lookedUp);
    }

    /// <summary>Takes the email's current attempt through the provider's acceptance, as the sender stream does.</summary>
    private async Task SendAsync(string id, string providerMessageId)
    {
        var attempt = (await _manager!.Ask<EmailState>(new GetEmailState(id))).Attempt;
        Assert.IsType<R.SendApproved>(await _manager.Ask<R.BeginSendReply>(new BeginSendAttempt(id, attempt)));
        var recorded = await _manager.Ask<R.OutcomeRecorded>(new RecordSendOutcome(id, attempt, new SendOutcome.Sent(providerMessageId)));
        Assert.Equal(R.NextStep.Done, recorded.Next);
    }

    /// <summary>The read model's message-id index; behind the journal when <see cref="Behind"/>.</summary>
    private sealed class MessageIdIndex : IEmailReadStore
    {
        public Dictionary<string, string> Ids { get; } = new();
        public bool Behind { get; set; }

        public Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default) =>
            Ids.TryGetValue(providerMessageId, out var id) ? Task.FromResult<string?>(id)
            : Behind ? throw new ReadModelBehindException("behind") : Task.FromResult<string?>(null);

        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailView?> GetAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default) =>
            throw new NotSupportedException();
    }
}

using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Streams.Dsl;
using Akka.TestKit;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Providers;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using Xunit;
using static AkkaMail.Actors.PipelineMessages;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>The sender stream: queue → may I? → provider → record the outcome → ack.</summary>
public class SendConsumerTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly ConcurrentQueue<EmailChanged> _views = new();
    private readonly TestProbe _dispatcher;
    private readonly TrackingQueue _queue = new(new InProcSendQueue(100));
    private readonly StubProvider _provider = new();
    private readonly IActorRef _manager;
    private readonly FakeTimeProvider _clock = new(T.T0);

    public SendConsumerTests() : base(TestActorSystems.Create(T.Hocon))
    {
        _dispatcher = CreateTestProbe();
        var writer = ChangeRecorders.Start(Sys, _views);
        var settings = Settings.Fast() with { Retry = T.Policy with { MaxAttempts = 2 } };
        var deps = new EmailActorDeps(settings, _dispatcher.Ref, null, _clock);
        _manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
        Sys.ActorOf(Props.Create(() => new SendConsumerActor(_queue, _provider, _manager, settings, _clock, null)));
        var manager = _manager;
        _queue.PhaseProbe = async job => (await manager.Ask<EmailState>(new GetEmailState(job.EmailId), TimeSpan.FromSeconds(3))).Phase;
    }

    protected override void AfterAll()
    {
        _queue.DisposeAsync().AsTask().Wait();
        base.AfterAll();
    }

    private SendJob Accept(string id)
    {
        _manager.Tell(new AcceptEmail(id, "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        var job = _dispatcher.ExpectMsg<DispatchJob>();
        Assert.Equal(new SendJob(id, 1), job.Job);
        return job.Job;
    }

    private EmailState StateOf(string id)
    {
        _manager.Tell(new GetEmailState(id));
        return ExpectMsg<EmailState>();
    }

    [Fact]
    public async Task A_job_is_approved_sent_recorded_then_acked_and_a_redelivery_never_sends_twice()
    {
        _provider.Answer = _ => new SendOutcome.Sent("pm-1");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(new[] { job }, _queue.Acks));
        var call = Assert.Single(_provider.Calls);
        Assert.Equal(("e1", 1), (call.EmailId, call.Attempt));
        Assert.Equal("Hello", call.Content.Subject);
        // The ack came after the outcome was persisted.
        Assert.True(_queue.StateAtAck.TryGetValue(job, out var phaseAtAck));
        Assert.Equal(SendPhase.Sent, phaseAtAck);
        var s = StateOf("e1");
        Assert.Equal(SendPhase.Sent, s.Phase);
        Assert.Equal("pm-1", s.ProviderMessageId);

        // The queue delivers the same job again (a broker redelivery): acked and dropped.
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(2, _queue.Acks.Count));
        Assert.Single(_provider.Calls);
        Assert.Equal(3, StateOf("e1").Version);   // accepted, started, sent: nothing more
    }

    [Fact]
    public async Task An_early_job_is_queued_again_for_the_rest_of_its_wait_from_the_due_time_in_the_denial()
    {
        var sendAt = T.T0.AddHours(1);
        _manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient, SendAt: sendAt));
        ExpectMsg<R.EmailAccepted>();
        var job = _dispatcher.ExpectMsg<DispatchJob>();
        Assert.Equal(TimeSpan.FromHours(1), job.Delay);
        // Delivered 20 minutes after acceptance, 40 before it is due.
        _clock.SetUtcNow(T.T0.AddMinutes(20));
        await _queue.EnqueueAsync(job.Job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(new[] { job.Job }, _queue.Acks));
        Assert.Equal(new[] { (job.Job, TimeSpan.Zero), (job.Job, TimeSpan.FromMinutes(40)) }, _queue.Enqueued);
        Assert.Empty(_provider.Calls);
        Assert.Equal(SendPhase.Scheduled, StateOf("e1").Phase);
    }

    [Fact]
    public async Task A_transient_outcome_dispatches_the_next_attempt_with_the_backoff_delay()
    {
        _provider.Answer = e => e.Attempt == 1 ? new SendOutcome.Transient("429 slow down", TimeSpan.FromSeconds(20)) : new SendOutcome.Sent("pm-2");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        var retry = _dispatcher.ExpectMsg<DispatchJob>();
        Assert.Equal(new DispatchJob(new SendJob("e1", 2), TimeSpan.FromSeconds(20)), retry);   // RetryAfter is the floor
        AwaitAssert(() => Assert.Equal(new[] { job }, _queue.Acks));
        var s = StateOf("e1");
        Assert.Equal(SendPhase.RetryWaiting, s.Phase);
        Assert.Equal(T.T0.AddSeconds(20), s.NextAttemptAt);

        // The retry job arrives (the in-process queue would hold it for the delay): attempt 2 goes out.
        _clock.SetUtcNow(T.T0.AddSeconds(20));
        await _queue.EnqueueAsync(retry.Job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(2, _queue.Acks.Count));
        Assert.Equal(new[] { 1, 2 }, _provider.Calls.Select(c => c.Attempt));
        Assert.Equal(SendPhase.Sent, StateOf("e1").Phase);
    }

    [Fact]
    public async Task A_transient_outcome_without_retry_after_waits_within_the_policy_bounds()
    {
        _provider.Answer = _ => new SendOutcome.Transient("connection reset");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        var retry = _dispatcher.ExpectMsg<DispatchJob>();
        Assert.Equal(new SendJob("e1", 2), retry.Job);
        Assert.InRange(retry.Delay, T.Policy.MinBackoff, T.Policy.MaxBackoff);
    }

    [Fact]
    public async Task Out_of_attempts_the_job_is_dead_lettered_and_the_email_failed()
    {
        _provider.Answer = _ => new SendOutcome.Transient("busy");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        var retry = _dispatcher.ExpectMsg<DispatchJob>();
        await _queue.EnqueueAsync(retry.Job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(2, _queue.Acks.Count));
        Assert.Equal(new[] { retry.Job }, _queue.Inner.DeadLetters);
        Assert.Equal(EmailStatus.Failed, StateOf("e1").Status);
        _dispatcher.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_provider_that_throws_counts_as_a_transient_failure()
    {
        _provider.Answer = _ => throw new HttpRequestException("connection refused");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        Assert.Equal(new SendJob("e1", 2), _dispatcher.ExpectMsg<DispatchJob>().Job);
        AwaitAssert(() => Assert.Single(_queue.Acks));
        Assert.Contains("connection refused", StateOf("e1").FailureReason);
    }

    [Fact]
    public async Task Copies_of_a_sent_job_and_a_superseded_attempt_are_acked_and_dropped_without_a_send()
    {
        _provider.Answer = _ => new SendOutcome.Sent("pm-1");
        var job = Accept("e1");
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        AwaitAssert(() => Assert.Single(_queue.Acks));
        var version = StateOf("e1").Version;

        // Copies of the job (the sweep's, a redelivery) and one of an attempt that is not current.
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        await _queue.EnqueueAsync(job, TimeSpan.Zero);
        await _queue.EnqueueAsync(new SendJob("e1", 7), TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(4, _queue.Acks.Count));
        Assert.Single(_provider.Calls);
        Assert.Equal(version, StateOf("e1").Version);
        Assert.Empty(_queue.Nacks);
    }

    public sealed class StubProvider : IEmailProvider
    {
        public Func<OutgoingEmail, SendOutcome> Answer { get; set; } = _ => new SendOutcome.Sent("pm");
        public ConcurrentQueue<OutgoingEmail> Calls { get; } = new();
        public string Name => "stub";

        public Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
        {
            Calls.Enqueue(email);
            return Task.FromResult(Answer(email));
        }
    }

    /// <summary>The in-process queue, with its acks and nacks recorded.</summary>
    public sealed class TrackingQueue(InProcSendQueue inner) : ISendQueue
    {
        public InProcSendQueue Inner => inner;
        public ConcurrentQueue<SendJob> Acks { get; } = new();
        public ConcurrentQueue<SendJob> Nacks { get; } = new();
        public ConcurrentDictionary<SendJob, SendPhase> StateAtAck { get; } = new();
        /// <summary>Asked at each ack: what the email's phase is then.</summary>
        public Func<SendJob, Task<SendPhase>>? PhaseProbe { get; set; }
        public string Name => inner.Name;
        public bool IsDurable => inner.IsDurable;
        public ConcurrentQueue<(SendJob Job, TimeSpan Delay)> Enqueued { get; } = new();
        public Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default)
        {
            Enqueued.Enqueue((job, delay));
            return inner.EnqueueAsync(job, delay, ct);
        }
        public Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default) => inner.DeadLetterAsync(job, reason, ct);
        public ValueTask DisposeAsync() => inner.DisposeAsync();

        public Source<SendJobDelivery, NotUsed> Deliveries() => inner.Deliveries().Select(d => d with
        {
            Ack = async () =>
            {
                if (PhaseProbe is { } probe && !StateAtAck.ContainsKey(d.Job)) StateAtAck[d.Job] = await probe(d.Job);
                await d.Ack();
                Acks.Enqueue(d.Job);
            },
            Nack = async requeue =>
            {
                Nacks.Enqueue(d.Job);
                await d.Nack(requeue);
            },
        });
    }
}

/// <summary>
/// #16, item 5 (b): a redundant job (its email already sent, failed or cancelled, or its attempt superseded) is dropped
/// before the provider's rate limit: it takes no send token, so the real sends behind it are not held up.
/// </summary>
public class SendConsumerThrottleTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly TestProbe _dispatcher;
    private readonly SendConsumerTests.TrackingQueue _queue = new(new InProcSendQueue(100));
    private readonly SendConsumerTests.StubProvider _provider = new();
    private readonly IActorRef _manager;

    public SendConsumerThrottleTests() : base(TestActorSystems.Create(T.Hocon))
    {
        _dispatcher = CreateTestProbe();
        // One send a second, a burst of one: every job that passes the throttle after the first waits a second.
        var settings = Settings.Fast() with { ProviderRatePerSecond = 1, ProviderRateBurst = 1 };
        var live = new LiveEmailStates();
        var deps = new EmailActorDeps(settings, _dispatcher.Ref, null, TimeProvider.System, live);
        _manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
        Sys.ActorOf(Props.Create(() => new SendConsumerActor(_queue, _provider, _manager, settings, TimeProvider.System, live)));
    }

    protected override void AfterAll()
    {
        _queue.DisposeAsync().AsTask().Wait();
        base.AfterAll();
    }

    private SendJob Accept(string id)
    {
        _manager.Tell(new AcceptEmail(id, "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        return _dispatcher.ExpectMsg<DispatchJob>().Job;
    }

    [Fact]
    public async Task Ten_redundant_jobs_take_no_send_token_and_the_real_one_behind_them_goes_at_once()
    {
        // Redundant: one email cancelled before its job arrived, one whose attempt is not current.
        var cancelled = Accept("cancelled");
        _manager.Tell(new CancelEmail("cancelled"));
        ExpectMsg<R.Cancelled>();
        var other = Accept("other");
        var jobs = Enumerable.Range(0, 8).Select(_ => cancelled).Append(new SendJob("other", 2)).Append(new SendJob("other", 3)).ToList();
        var real = Accept("real");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var j in jobs) await _queue.EnqueueAsync(j, TimeSpan.Zero);
        await _queue.EnqueueAsync(real, TimeSpan.Zero);

        // Through a throttle they would have taken ten tokens: the real send would wait ~9 s behind them.
        AwaitAssert(() => Assert.Single(_provider.Calls), TimeSpan.FromSeconds(3));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the real send went {clock.ElapsedMilliseconds} ms after its job was queued");
        Assert.Equal("real", _provider.Calls.Single().EmailId);
        AwaitAssert(() => Assert.Equal(11, _queue.Acks.Count), TimeSpan.FromSeconds(3));
        Assert.Equal(10, _queue.Acks.Count(a => a.EmailId != "real"));

        // The current attempt of "other" is not redundant: it goes, taking the next token (a second later).
        await _queue.EnqueueAsync(other, TimeSpan.Zero);
        AwaitAssert(() => Assert.Equal(2, _provider.Calls.Count), TimeSpan.FromSeconds(5));
    }
}

/// <summary>A cluster node takes no delivery before it is a member: the consumer waits for its start signal.</summary>
public class SendConsumerStartTests : Akka.TestKit.Xunit2.TestKit
{
    public SendConsumerStartTests() : base(TestActorSystems.Create(T.Hocon)) { }

    [Fact]
    public async Task Deliveries_wait_for_the_start_signal_and_flow_once_it_comes()
    {
        await using var queue = new InProcSendQueue(100);
        var provider = new SendConsumerTests.StubProvider { Answer = _ => new SendOutcome.Sent("pm-1") };
        var dispatcher = CreateTestProbe();
        var settings = Settings.Fast();
        var deps = new EmailActorDeps(settings, dispatcher.Ref, null, TimeProvider.System);
        var manager = Sys.ActorOf(Props.Create(() => new EmailManagerActor(id => EmailActor.Props(id, deps))));
        var start = new TaskCompletionSource();
        Sys.ActorOf(Props.Create(() => new SendConsumerActor(queue, provider, manager, settings, TimeProvider.System, null, start.Task)));

        manager.Tell(new AcceptEmail("e1", "u1", T.OneRecipient));
        ExpectMsg<R.EmailAccepted>();
        var job = dispatcher.ExpectMsg<DispatchJob>().Job;
        await queue.EnqueueAsync(job, TimeSpan.Zero);
        await Task.Delay(500);
        Assert.Empty(provider.Calls);

        start.SetResult();
        AwaitAssert(() => Assert.Single(provider.Calls), TimeSpan.FromSeconds(5));
    }
}

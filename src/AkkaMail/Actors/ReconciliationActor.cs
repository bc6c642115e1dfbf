using Akka.Actor;
using Akka.Event;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using AkkaMail.ReadModel;

namespace AkkaMail.Actors;

/// <summary>What one run of the reconciliation job did.</summary>
/// <param name="Checked">Emails whose provider history was read.</param>
/// <param name="Applied">Reports recorded on their emails (new to them).</param>
/// <param name="Duplicates">Reports their emails had already (by event id: the webhook came).</param>
/// <param name="Marked">Emails marked "no report from provider".</param>
/// <param name="PausedUntil">The provider asked us to wait (420, 429): no run asks it before then.</param>
/// <param name="Error">Why the run stopped early (the history or an email could not be reached); null when it ran through.</param>
public sealed record ReconciliationRun(
    DateTimeOffset StartedAt, DateTimeOffset FinishedAt, int Checked, int Applied, int Duplicates, int Marked,
    DateTimeOffset? PausedUntil, string? Error);

/// <summary>
/// The reconciliation job: on an interval, for every email sent through the provider of <see cref="IProviderEventHistory"/>
/// at least <see cref="ReconciliationSettings.MinAge"/> ago and still awaiting reports (the read model's index, see
/// <see cref="EmailView.AwaitingReportFrom"/>), reads the provider's events about it and applies each through the gateway
/// exactly as its webhook would have been (same event id: an event that came both ways is recorded once). An email is
/// asked about at every run until all its recipients are final; once its send is older than the provider's retention, the
/// email is asked to mark "no report from provider" (it decides, after the last look). One per deployment (a cluster
/// singleton in cluster mode). A rate-limit answer pauses the job for the wait the provider asks.
/// </summary>
public sealed class ReconciliationActor : ReceiveActor, IWithTimers
{
    public const string Name = "reconciliation";

    /// <summary>Events are asked for from at least this long before the send: the provider's clock and ours may differ.</summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromMinutes(5);

    /// <summary>Starts a run now (unless one is running, or the job is paused); answered with <see cref="ReconciliationRun"/>.</summary>
    public sealed record RunNow
    {
        public static readonly RunNow Instance = new();
    }

    private sealed record Finished(ReconciliationRun Run);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _waiting = new();
    private bool _running;
    private DateTimeOffset? _pausedUntil;

    public ITimerScheduler Timers { get; set; } = null!;

    public ReconciliationActor(IProviderEventHistory history, IEmailReadStore store, IEmailGateway gateway, IActorRef emailManager,
        ReconciliationSettings settings, TimeProvider clock, TimeSpan askTimeout, Observability.AkkaMailMetrics? metrics = null)
    {
        Receive<RunNow>(_ =>
        {
            var now = clock.GetUtcNow();
            if (_pausedUntil is { } until && until > now)
            {
                if (!Sender.IsNobody()) Sender.Tell(new ReconciliationRun(now, now, 0, 0, 0, 0, until, "paused: the provider asked us to wait"));
                return;
            }
            if (!Sender.IsNobody()) _waiting.Add(Sender);
            if (_running) return;
            _running = true;
            var job = new Job(history, store, gateway, emailManager, settings, clock, askTimeout);
            job.RunAsync().ContinueWith(t => new Finished(t.IsCompletedSuccessfully
                ? t.Result
                : job.Result(clock.GetUtcNow(), t.Exception?.GetBaseException().Message ?? "cancelled"))).PipeTo(Self);
        });
        Receive<Finished>(f =>
        {
            _running = false;
            var run = f.Run;
            metrics?.Reconciled(run.Applied, run.Duplicates, run.Marked);
            if (run.PausedUntil is { } until)
            {
                _pausedUntil = until;
                var wait = until - clock.GetUtcNow();
                _log.Warning("Reconciliation paused until {Until}: {Error}", until, run.Error);
                Timers.StartSingleTimer("resume", RunNow.Instance, wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
            }
            else if (run.Error is not null)
                _log.Warning("Reconciliation run stopped after {Checked} emails: {Error}; next run in {Interval}", run.Checked, run.Error, settings.Interval);
            if (run.Applied + run.Marked > 0)
                _log.Info("Reconciliation run: {Checked} emails asked about, {Applied} reports applied ({Duplicates} known already), {Marked} marked without report",
                    run.Checked, run.Applied, run.Duplicates, run.Marked);
            foreach (var w in _waiting) w.Tell(run);
            _waiting.Clear();
        });
        Timers.StartPeriodicTimer("reconciliation", RunNow.Instance, settings.Interval, settings.Interval);
    }

    /// <summary>One run; its counters stay readable when it fails part way.</summary>
    private sealed class Job(IProviderEventHistory history, IEmailReadStore store, IEmailGateway gateway, IActorRef manager,
        ReconciliationSettings settings, TimeProvider clock, TimeSpan askTimeout)
    {
        private readonly DateTimeOffset _startedAt = clock.GetUtcNow();
        private int _checked, _applied, _duplicates, _marked;
        private DateTimeOffset? _pausedUntil;

        public ReconciliationRun Result(DateTimeOffset at, string? error) =>
            new(_startedAt, at, _checked, _applied, _duplicates, _marked, _pausedUntil, error);

        public async Task<ReconciliationRun> RunAsync()
        {
            var after = SentPosition.Start;
            while (true)
            {
                var page = await store.FindAwaitingReportAsync(history.Provider, after, _startedAt - settings.MinAge, settings.BatchSize);
                foreach (var email in page)
                    if (await ReconcileAsync(email) is { } stop)
                        return Result(clock.GetUtcNow(), stop);
                if (page.Count < settings.BatchSize) return Result(clock.GetUtcNow(), null);
                after = page[^1];
            }
        }

        private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

        /// <summary>Applies what the provider holds about one email; the reason to stop the run, or null to go on.</summary>
        private async Task<string?> ReconcileAsync(SentPosition email)
        {
            // As far back as the provider keeps events, not from the send: an attempt whose answer was lost may have been
            // accepted (and delivered) hours before the retry that found it and recorded the send.
            var since = Min(email.SentAt - ClockMargin, _startedAt - settings.ProviderRetention);
            switch (await history.FindEventsAsync(email.Id, since, CancellationToken.None))
            {
                case ProviderHistory.RateLimited limited:
                    _pausedUntil = clock.GetUtcNow() + limited.Wait;
                    return limited.Reason;
                case ProviderHistory.Unavailable unavailable:
                    return unavailable.Reason;
                case ProviderHistory.Found found:
                    _checked++;
                    foreach (var evt in found.Events)
                    {
                        switch (await gateway.ApplyProviderEventAsync(email.Id, evt))
                        {
                            case ProviderEventResult.Applied: _applied++; break;
                            case ProviderEventResult.Duplicate: _duplicates++; break;
                            case ProviderEventResult.Unavailable u: return $"email {email.Id}: {u.Reason}";
                        }
                    }
                    break;
            }
            // After the last look: past the provider's retention, nothing more can come from its history.
            if (_startedAt - email.SentAt >= settings.ProviderRetention)
            {
                var reply = await manager.Ask<EmailReplies.NoProviderReportMarked>(
                    new EmailCommands.MarkNoProviderReport(email.Id, history.Provider, settings.ProviderRetention), askTimeout);
                if (reply.Marked) _marked++;
            }
            return null;
        }
    }
}

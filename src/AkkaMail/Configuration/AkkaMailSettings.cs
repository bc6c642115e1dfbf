using Akka.Configuration;
using AkkaMail.Domain;

namespace AkkaMail.Configuration;

/// <summary>The operator's knobs: the <c>akkamail</c> block of hocon/akkamail.hocon, each also settable as an
/// <c>AkkaMail</c> configuration key (<see cref="AkkaMailConfiguration.LoadKnobs"/>). The defaults here are the shipped
/// file's (a test holds them equal).</summary>
public sealed record AkkaMailSettings
{
    public int SendParallelism { get; init; } = 8;
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromMinutes(2);
    public int ProviderRatePerSecond { get; init; } = 100;
    public int ProviderRateBurst { get; init; } = 100;
    public int DispatchBufferSize { get; init; } = 10_000;
    public int DispatchParallelism { get; init; } = 16;
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;
    public TimeSpan PassivationTimeout { get; init; } = TimeSpan.FromMinutes(2);
    public int SnapshotEvery { get; init; } = 50;
    public bool SkipRecoveryOfNewEmails { get; init; } = true;
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan SweepPickupTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public int SweepBatchSize { get; init; } = 1000;
    public TimeSpan AskTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public int ReadModelBatchSize { get; init; } = 500;
    public TimeSpan ReadModelBatchWindow { get; init; } = TimeSpan.FromMilliseconds(10);
    public int ReadSideCachedStates { get; init; } = 10_000;
    public TimeSpan ReadSideMinBackoff { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan ReadSideMaxBackoff { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan ReadSideCatchUpWait { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ReadSideMaxLag { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Header names whose values search indexes (<see cref="ReadModel.EmailSearch"/>), compared ignoring case.
    /// An empty list is always <see cref="Array.Empty{T}"/>, so that settings compare equal as records.</summary>
    public IReadOnlyList<string> SearchHeaders { get; init; } = Array.Empty<string>();

    /// <summary>The read-side projection's loop settings.</summary>
    public Projections.ProjectionSettings ReadSideProjection =>
        new(ReadModelBatchSize, ReadModelBatchWindow, ReadSideMinBackoff, ReadSideMaxBackoff);
    public TimeSpan SandboxDeliveryDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan WebhookTimestampTolerance { get; init; } = TimeSpan.FromHours(9);
    public TimeSpan ShutdownDrainTimeout { get; init; } = TimeSpan.FromSeconds(20);
    public OutboundWebhooks.OutboundWebhookSettings OutboundWebhooks { get; init; } = AkkaMail.OutboundWebhooks.OutboundWebhookSettings.Default;
    public Providers.BreakerSettings Breaker { get; init; } = Providers.BreakerSettings.Default;
    /// <summary>How long settled emails' bodies and envelopes are kept (akkamail.retention).</summary>
    public RetentionPolicy Retention { get; init; } = new(TimeSpan.FromDays(7), TimeSpan.FromDays(90));
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromHours(1);
    public int RetentionBatchSize { get; init; } = 200;
    /// <summary>How old the storage figures (per user and in total) may be when read (akkamail.retention.storage-figures-max-age).</summary>
    public TimeSpan StorageFiguresMaxAge { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How many users (the largest) /metrics shows the storage figures of (akkamail.retention.storage-metrics-users).</summary>
    public int StorageMetricsUsers { get; init; } = 20;
    /// <summary>How often pending erasures are looked at (new requests, emails waiting to settle).</summary>
    public TimeSpan ErasureInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>The reconciliation job's knobs (akkamail.reconciliation).</summary>
    public ReconciliationSettings Reconciliation { get; init; } = ReconciliationSettings.Default;

    /// <summary>The knobs of the loaded HOCON (see <see cref="AkkaMailConfiguration.LoadKnobs"/>); a knob not set keeps its
    /// default.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Every knob that does not parse or is out of
    /// bounds, each named by its key.</exception>
    public static AkkaMailSettings FromConfig(Config root)
    {
        var d = new AkkaMailSettings();
        var k = new KnobReader(root);
        var retry = new RetryPolicy(
            k.Int("akkamail.retry.max-attempts", d.Retry.MaxAttempts, min: 0),
            k.PositiveDuration("akkamail.retry.min-backoff", d.Retry.MinBackoff),
            k.PositiveDuration("akkamail.retry.max-backoff", d.Retry.MaxBackoff),
            k.Double("akkamail.retry.jitter", d.Retry.Jitter, 0, 1),
            // 0: no deadline.
            k.Duration("akkamail.retry.deadline", d.Retry.Deadline ?? TimeSpan.Zero, TimeSpan.Zero) is var deadline && deadline > TimeSpan.Zero
                ? deadline
                : null);
        k.Require(retry.MaxBackoff >= retry.MinBackoff, "akkamail.retry.max-backoff", "must be at least retry.min-backoff");
        k.Require(retry.Deadline is not null || retry.MaxAttempts > 0, "akkamail.retry.deadline",
            "0 (no deadline) needs retry.max-attempts above 0, or a failing email is retried forever");
        var settings = new AkkaMailSettings
        {
            SendParallelism = k.Int("akkamail.sender.parallelism", d.SendParallelism, min: 1),
            AttemptTimeout = k.PositiveDuration("akkamail.sender.attempt-timeout", d.AttemptTimeout),
            ProviderRatePerSecond = k.Int("akkamail.sender.rate-limit.per-second", d.ProviderRatePerSecond, min: 1),
            ProviderRateBurst = k.Int("akkamail.sender.rate-limit.burst", d.ProviderRateBurst, min: 1),
            DispatchBufferSize = k.Int("akkamail.dispatch.buffer-size", d.DispatchBufferSize, min: 1),
            DispatchParallelism = k.Int("akkamail.dispatch.parallelism", d.DispatchParallelism, min: 1),
            Retry = retry,
            PassivationTimeout = k.Duration("akkamail.email.passivation-timeout", d.PassivationTimeout, TimeSpan.Zero),
            SnapshotEvery = k.Int("akkamail.email.snapshot-every", d.SnapshotEvery, min: 1),
            SkipRecoveryOfNewEmails = k.Bool("akkamail.email.skip-recovery-of-new-emails", d.SkipRecoveryOfNewEmails),
            SweepInterval = k.PositiveDuration("akkamail.sweep.interval", d.SweepInterval),
            SweepPickupTimeout = k.PositiveDuration("akkamail.sweep.pickup-timeout", d.SweepPickupTimeout),
            SweepBatchSize = k.Int("akkamail.sweep.batch-size", d.SweepBatchSize, min: 1),
            AskTimeout = k.PositiveDuration("akkamail.ask-timeout", d.AskTimeout),
            ReadModelBatchSize = k.Int("akkamail.read-model.batch-size", d.ReadModelBatchSize, min: 1),
            ReadModelBatchWindow = k.Duration("akkamail.read-model.batch-window", d.ReadModelBatchWindow, TimeSpan.Zero),
            ReadSideCachedStates = k.Int("akkamail.read-model.cached-states", d.ReadSideCachedStates, min: 0),
            ReadSideMinBackoff = k.PositiveDuration("akkamail.read-model.min-backoff", d.ReadSideMinBackoff),
            ReadSideMaxBackoff = k.PositiveDuration("akkamail.read-model.max-backoff", d.ReadSideMaxBackoff),
            ReadSideCatchUpWait = k.Duration("akkamail.read-model.catch-up-wait", d.ReadSideCatchUpWait, TimeSpan.Zero),
            ReadSideMaxLag = k.PositiveDuration("akkamail.read-model.max-lag", d.ReadSideMaxLag),
            SearchHeaders = k.Strings("akkamail.read-model.search-headers", d.SearchHeaders, "header names (X-Order-Id)",
                name => name.Length is > 0 and <= 100 && name.All(ch => ch is > ' ' and < '\x7f' and not ':')) is { Count: > 0 } headers
                ? headers : Array.Empty<string>(),
            SandboxDeliveryDelay = k.Duration("akkamail.sandbox.delivery-delay", d.SandboxDeliveryDelay, TimeSpan.Zero),
            WebhookTimestampTolerance = k.PositiveDuration("akkamail.webhooks.timestamp-tolerance", d.WebhookTimestampTolerance),
            ShutdownDrainTimeout = k.Duration("akkamail.shutdown.drain-timeout", d.ShutdownDrainTimeout, TimeSpan.Zero),
        };
        var w = d.OutboundWebhooks;
        settings = settings with
        {
            OutboundWebhooks = new OutboundWebhooks.OutboundWebhookSettings(
                RetryFor: k.PositiveDuration("akkamail.outbound-webhooks.retry-for", w.RetryFor),
                MinBackoff: k.PositiveDuration("akkamail.outbound-webhooks.min-backoff", w.MinBackoff),
                MaxBackoff: k.PositiveDuration("akkamail.outbound-webhooks.max-backoff", w.MaxBackoff),
                Jitter: k.Double("akkamail.outbound-webhooks.jitter", w.Jitter, 0, 1),
                Timeout: k.PositiveDuration("akkamail.outbound-webhooks.timeout", w.Timeout),
                Parallelism: k.Int("akkamail.outbound-webhooks.parallelism", w.Parallelism, min: 1, max: 256),
                RatePerSecond: k.Int("akkamail.outbound-webhooks.rate-limit.per-second", w.RatePerSecond, min: 1),
                Burst: k.Int("akkamail.outbound-webhooks.rate-limit.burst", w.Burst, min: 1),
                DisableAfter: k.Int("akkamail.outbound-webhooks.disable-after", w.DisableAfter, min: 1),
                RotationOverlap: k.Duration("akkamail.outbound-webhooks.rotation-overlap", w.RotationOverlap, TimeSpan.Zero),
                AllowLoopback: k.Bool("akkamail.outbound-webhooks.allow-loopback", w.AllowLoopback),
                ResponseBodyLimit: k.Int("akkamail.outbound-webhooks.response-body-limit", w.ResponseBodyLimit, min: 0, max: 65536),
                PollInterval: k.PositiveDuration("akkamail.outbound-webhooks.poll-interval", w.PollInterval),
                Retention: k.PositiveDuration("akkamail.outbound-webhooks.retention", w.Retention)),
        };
        var b = d.Breaker;
        settings = settings with
        {
            Breaker = new Providers.BreakerSettings(
                Failures: k.Int("akkamail.breaker.failures", b.Failures, min: 2, max: 10_000),
                Window: k.Duration("akkamail.breaker.window", b.Window, TimeSpan.FromMilliseconds(500)),
                BreakDuration: k.Duration("akkamail.breaker.break-duration", b.BreakDuration, TimeSpan.FromMilliseconds(500)),
                LongReset: k.PositiveDuration("akkamail.breaker.long-reset", b.LongReset),
                FailureRatio: k.Double("akkamail.breaker.failure-ratio", b.FailureRatio, 0, 1)),
        };
        k.Require(settings.Breaker.FailureRatio > 0, "akkamail.breaker.failure-ratio", "must be more than 0");
        // 0: keep forever.
        static TimeSpan OrForever(TimeSpan t) => t == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : t;
        static TimeSpan AsKnob(TimeSpan t) => t == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : t;
        settings = settings with
        {
            Retention = new RetentionPolicy(
                OrForever(k.Duration("akkamail.retention.bodies", AsKnob(d.Retention.KeepBodies), TimeSpan.Zero)),
                OrForever(k.Duration("akkamail.retention.envelopes", AsKnob(d.Retention.KeepEnvelopes), TimeSpan.Zero))),
            RetentionInterval = k.PositiveDuration("akkamail.retention.interval", d.RetentionInterval),
            RetentionBatchSize = k.Int("akkamail.retention.batch-size", d.RetentionBatchSize, min: 1, max: 10_000),
            StorageFiguresMaxAge = k.PositiveDuration("akkamail.retention.storage-figures-max-age", d.StorageFiguresMaxAge),
            StorageMetricsUsers = k.Int("akkamail.retention.storage-metrics-users", d.StorageMetricsUsers, min: 0, max: 1_000),
            ErasureInterval = k.PositiveDuration("akkamail.erasure.interval", d.ErasureInterval),
        };
        var r = d.Reconciliation;
        settings = settings with
        {
            Reconciliation = new ReconciliationSettings(
                Interval: k.PositiveDuration("akkamail.reconciliation.interval", r.Interval),
                MinAge: k.Duration("akkamail.reconciliation.min-age", r.MinAge, TimeSpan.Zero),
                ProviderRetention: k.PositiveDuration("akkamail.reconciliation.provider-retention", r.ProviderRetention),
                BatchSize: k.Int("akkamail.reconciliation.batch-size", r.BatchSize, min: 1, max: 10_000)),
        };
        k.Require(settings.Reconciliation.ProviderRetention > settings.Reconciliation.MinAge, "akkamail.reconciliation.provider-retention",
            "must be more than reconciliation.min-age");
        k.Require(!settings.Retention.RemovesEnvelopes || !settings.Retention.RemovesBodies
                  || settings.Retention.KeepEnvelopes >= settings.Retention.KeepBodies,
            "akkamail.retention.envelopes", "must be 0 (keep forever) or at least retention.bodies");
        k.Require(settings.OutboundWebhooks.MaxBackoff >= settings.OutboundWebhooks.MinBackoff, "akkamail.outbound-webhooks.max-backoff",
            "must be at least outbound-webhooks.min-backoff");
        k.Require(settings.ReadSideMaxBackoff >= settings.ReadSideMinBackoff, "akkamail.read-model.max-backoff",
            "must be at least read-model.min-backoff");
        k.ThrowIfAny<AkkaMailSettings>();
        return settings;
    }
}

/// <summary>The reconciliation job (akkamail.reconciliation): every <paramref name="Interval"/>, each email sent through a
/// provider with an event history (Mailgun) at least <paramref name="MinAge"/> ago and still awaiting reports is looked up
/// in that history; once its send is older than <paramref name="ProviderRetention"/> with no final report, it is marked
/// "no report from provider". <paramref name="BatchSize"/> emails per read-model query.</summary>
public sealed record ReconciliationSettings(TimeSpan Interval, TimeSpan MinAge, TimeSpan ProviderRetention, int BatchSize)
{
    public static readonly ReconciliationSettings Default = new(TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30), TimeSpan.FromDays(3), 100);
}

using Akka.Configuration;
using AkkaMail.Domain;

namespace AkkaMail.Configuration;

/// <summary>The operator's knobs, read from the <c>akkamail</c> section of hocon/akkamail.hocon.</summary>
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

    /// <summary>The read-side projection's loop settings.</summary>
    public Projections.ProjectionSettings ReadSideProjection =>
        new(ReadModelBatchSize, ReadModelBatchWindow, ReadSideMinBackoff, ReadSideMaxBackoff);
    public TimeSpan SandboxDeliveryDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan WebhookTimestampTolerance { get; init; } = Mailgun.MailgunWebhookVerifier.DefaultTolerance;
    public TimeSpan ShutdownDrainTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public static AkkaMailSettings FromConfig(Config root)
    {
        var c = root.GetConfig("akkamail");
        if (c is null || c.IsEmpty) return new AkkaMailSettings();
        var d = new AkkaMailSettings();
        return new AkkaMailSettings
        {
            SendParallelism = c.GetInt("sender.parallelism", d.SendParallelism),
            AttemptTimeout = c.GetTimeSpan("sender.attempt-timeout", d.AttemptTimeout),
            ProviderRatePerSecond = c.GetInt("sender.rate-limit.per-second", d.ProviderRatePerSecond),
            ProviderRateBurst = c.GetInt("sender.rate-limit.burst", d.ProviderRateBurst),
            DispatchBufferSize = c.GetInt("dispatch.buffer-size", d.DispatchBufferSize),
            DispatchParallelism = c.GetInt("dispatch.parallelism", d.DispatchParallelism),
            Retry = new RetryPolicy(
                c.GetInt("retry.max-attempts", d.Retry.MaxAttempts),
                c.GetTimeSpan("retry.min-backoff", d.Retry.MinBackoff),
                c.GetTimeSpan("retry.max-backoff", d.Retry.MaxBackoff),
                c.GetDouble("retry.jitter", d.Retry.Jitter),
                c.GetTimeSpan("retry.deadline", d.Retry.Deadline ?? TimeSpan.Zero) is { } deadline && deadline > TimeSpan.Zero ? deadline : null),
            PassivationTimeout = c.GetTimeSpan("email.passivation-timeout", d.PassivationTimeout),
            SnapshotEvery = c.GetInt("email.snapshot-every", d.SnapshotEvery),
            SkipRecoveryOfNewEmails = c.GetBoolean("email.skip-recovery-of-new-emails", d.SkipRecoveryOfNewEmails),
            SweepInterval = c.GetTimeSpan("sweep.interval", d.SweepInterval),
            SweepPickupTimeout = c.GetTimeSpan("sweep.pickup-timeout", d.SweepPickupTimeout),
            SweepBatchSize = c.GetInt("sweep.batch-size", d.SweepBatchSize),
            AskTimeout = c.GetTimeSpan("ask-timeout", d.AskTimeout),
            ReadModelBatchSize = c.GetInt("read-model.batch-size", d.ReadModelBatchSize),
            ReadModelBatchWindow = c.GetTimeSpan("read-model.batch-window", d.ReadModelBatchWindow),
            ReadSideCachedStates = c.GetInt("read-model.cached-states", d.ReadSideCachedStates),
            ReadSideMinBackoff = c.GetTimeSpan("read-model.min-backoff", d.ReadSideMinBackoff),
            ReadSideMaxBackoff = c.GetTimeSpan("read-model.max-backoff", d.ReadSideMaxBackoff),
            ReadSideCatchUpWait = c.GetTimeSpan("read-model.catch-up-wait", d.ReadSideCatchUpWait),
            ReadSideMaxLag = c.GetTimeSpan("read-model.max-lag", d.ReadSideMaxLag),
            SandboxDeliveryDelay = c.GetTimeSpan("sandbox.delivery-delay", d.SandboxDeliveryDelay),
            WebhookTimestampTolerance = c.GetTimeSpan("webhooks.timestamp-tolerance", d.WebhookTimestampTolerance),
            ShutdownDrainTimeout = c.GetTimeSpan("shutdown.drain-timeout", d.ShutdownDrainTimeout),
        };
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using AkkaMail.Domain;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Observability;

/// <summary>
/// The service's own instruments (meter "AkkaMail"), exported for Prometheus at /metrics. Names follow
/// OpenTelemetry conventions; the exporter turns "akkamail.emails.accepted" into akkamail_emails_accepted_total.
/// </summary>
public sealed class AkkaMailMetrics
{
    public const string MeterName = "AkkaMail";

    private long _providerCallsInFlight;
    private long _liveEmailActors;

    public Counter<long> EmailsAccepted { get; }
    public Counter<long> EmailsDispatched { get; }
    public Counter<long> EmailsSent { get; }
    public Counter<long> EmailsFailed { get; }
    public Counter<long> Retries { get; }
    public Counter<long> RecipientsDelivered { get; }
    public Counter<long> RecipientsFailed { get; }
    public Counter<long> ProviderEvents { get; }
    public Counter<long> Webhooks { get; }
    public Counter<long> ProviderFailovers { get; }
    /// <summary>What the reconciliation job found in the provider's event history, by outcome.</summary>
    public Counter<long> ReconciliationReports { get; }
    public Histogram<double> ProviderCallDuration { get; }
    public Counter<long> OutboundWebhookAttempts { get; }

    /// <summary>The queue's depth (in-process queue), set by the send queue's registration.</summary>
    public Func<long>? QueueDepth { get; set; }

    /// <summary>The read side's lag, set by its hosting.</summary>
    public Func<(long Events, double Seconds)>? ReadSideLag { get; set; }

    /// <summary>Bytes on disk by part (journal, read_model, outbox), set by the pipeline's hosting where it can see the
    /// files (SQLite; the outbox with any store).</summary>
    public Func<IReadOnlyList<(string Part, long Bytes)>>? StorageBytes { get; set; }

    /// <summary>The latest storage figures (per user, largest first, and totals), set by the pipeline's hosting; the callback
    /// must not wait (<see cref="ReadModel.StorageFiguresCache.Latest"/>).</summary>
    public Func<ReadModel.StorageReport?>? StorageFigures { get; set; }

    /// <summary>How many users (the largest) get their own storage series.</summary>
    public int StorageMetricsUsers { get; set; } = 20;

    /// <summary>The retention job's totals (bodies removed, emails removed) on this node, set by the pipeline's hosting.</summary>
    public Func<(long Bodies, long Emails)>? RetentionRemoved { get; set; }

    /// <summary>The outbound webhooks projection's lag, set by its hosting.</summary>
    public Func<(long Events, double Seconds)>? OutboundWebhooksLag { get; set; }

    /// <summary>The meter comes from the host's <see cref="IMeterFactory"/>: one per service instance (two hosts in one
    /// process, as in the tests, count apart), disposed with the host.</summary>
    public AkkaMailMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName, "1.0");
        EmailsAccepted = meter.CreateCounter<long>("akkamail.emails.accepted", "{email}", "Emails accepted (persisted) from clients.");
        EmailsDispatched = meter.CreateCounter<long>("akkamail.emails.dispatched", "{job}", "Send jobs durably queued.");
        EmailsSent = meter.CreateCounter<long>("akkamail.emails.sent", "{email}", "Emails accepted by the provider.");
        EmailsFailed = meter.CreateCounter<long>("akkamail.emails.failed", "{email}", "Emails failed before or at the provider, by reason.");
        Retries = meter.CreateCounter<long>("akkamail.emails.retries", "{attempt}", "Send attempts that failed transiently and were scheduled again.");
        RecipientsDelivered = meter.CreateCounter<long>("akkamail.recipients.delivered", "{recipient}", "Provider reports of delivery.");
        RecipientsFailed = meter.CreateCounter<long>("akkamail.recipients.failed", "{recipient}", "Provider reports of permanent failure, by reason.");
        ProviderEvents = meter.CreateCounter<long>("akkamail.provider.events", "{event}", "Provider events applied, by type.");
        Webhooks = meter.CreateCounter<long>("akkamail.webhooks.received", "{webhook}", "Webhooks received, by event type and outcome.");
        ProviderFailovers = meter.CreateCounter<long>("akkamail.provider.failovers", "{attempt}",
            "Send attempts made through a provider other than the route's first, by first provider (from) and the one used (to).");
        ProviderCallDuration = meter.CreateHistogram<double>("akkamail.provider.call.duration", "s",
            "Duration of provider send calls, by provider and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = new[] { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 } });
        meter.CreateObservableGauge("akkamail.provider.calls.in_flight", () => Interlocked.Read(ref _providerCallsInFlight), "{call}", "Provider calls in progress.");
        meter.CreateObservableGauge("akkamail.email_actors.live", () => Interlocked.Read(ref _liveEmailActors), "{actor}", "Email actors in memory (not passivated).");
        meter.CreateObservableGauge("akkamail.read_side.lag.events", () => ReadSideLag?.Invoke().Events ?? 0, "{event}",
            "Journal events the read-side projection (read model, suppressions) has not stored yet.");
        meter.CreateObservableGauge("akkamail.read_side.lag.seconds", () => ReadSideLag?.Invoke().Seconds ?? 0, "s",
            "While the read-side projection is behind: age of the newest event it has stored.");
        OutboundWebhookAttempts = meter.CreateCounter<long>("akkamail.outbound_webhooks.attempts", "{attempt}",
            "Outbound webhook POSTs, by outcome: succeeded, retried (to be attempted again), failed (given up or refused by the endpoint), refused (address guard).");
        meter.CreateObservableGauge("akkamail.outbound_webhooks.lag.events", () => OutboundWebhooksLag?.Invoke().Events ?? 0, "{event}",
            "Journal events the outbound webhooks projection has not turned into deliveries yet.");
        meter.CreateObservableGauge("akkamail.outbound_webhooks.lag.seconds", () => OutboundWebhooksLag?.Invoke().Seconds ?? 0, "s",
            "While the outbound webhooks projection is behind: age of the oldest event it has not projected.");
        ReconciliationReports = meter.CreateCounter<long>("akkamail.reconciliation.reports", "{event}",
            "Reports the reconciliation job read from the provider's event history, by outcome: applied (no webhook brought them), " +
            "duplicate (a webhook had), marked (emails marked no_report_from_provider).");
        meter.CreateObservableCounter("akkamail.retention.bodies_removed", () => RetentionRemoved?.Invoke().Bodies ?? 0, "{email}",
            "Emails whose bodies and attachments the retention job removed (this node).");
        meter.CreateObservableCounter("akkamail.retention.emails_removed", () => RetentionRemoved?.Invoke().Emails ?? 0, "{email}",
            "Emails the retention job removed whole (this node).");
        meter.CreateObservableGauge("akkamail.storage.bytes", () => (StorageBytes?.Invoke() ?? Array.Empty<(string, long)>())
                .Select(p => new Measurement<long>(p.Bytes, new KeyValuePair<string, object?>("part", p.Part))),
            "By", "Bytes on disk by part: journal and read_model (SQLite: the files with their logs; PostgreSQL: the tables with their " +
            "indexes; MongoDB: the collections' storage and indexes), outbox.");
        meter.CreateObservableGauge("akkamail.storage.emails", () => StorageFigures?.Invoke()?.Totals.Emails ?? 0, "{email}",
            "Emails stored (the read model's rows), all users.");
        meter.CreateObservableGauge("akkamail.storage.email_bytes", () => StorageParts(StorageFigures?.Invoke()?.Totals), "By",
            "Bytes of the stored emails, all users, by part: bodies_held (bodies and attachments still in the journal), bodies_removed " +
            "(removed by retention), envelopes (envelope, recipients and timeline: the read model's views).");
        meter.CreateObservableGauge("akkamail.storage.user.emails", () => TopUsers()
                .Select(u => new Measurement<long>(u.Figures.Emails, new KeyValuePair<string, object?>("user", u.UserId))), "{email}",
            "Emails stored for each of the users holding the most bytes (akkamail.retention.storage-metrics-users).");
        meter.CreateObservableGauge("akkamail.storage.user.email_bytes", () => TopUsers()
                .SelectMany(u => StorageParts(u.Figures, new KeyValuePair<string, object?>("user", u.UserId))), "By",
            "Bytes of the stored emails of each of the users holding the most bytes, by part (as akkamail.storage.email_bytes).");
        meter.CreateObservableGauge("akkamail.queue.depth", () => QueueDepth?.Invoke() ?? 0, "{job}", "Send jobs waiting in the in-process queue (RabbitMQ: see the broker).");
    }

    private IEnumerable<ReadModel.UserStorage> TopUsers() =>
        StorageFigures?.Invoke()?.Users.Take(StorageMetricsUsers) ?? Enumerable.Empty<ReadModel.UserStorage>();

    private static IEnumerable<Measurement<long>> StorageParts(ReadModel.StorageFigures? f, params KeyValuePair<string, object?>[] tags)
    {
        if (f is null) yield break;
        static KeyValuePair<string, object?>[] With(KeyValuePair<string, object?>[] tags, string part) =>
            tags.Append(new KeyValuePair<string, object?>("part", part)).ToArray();
        yield return new Measurement<long>(f.BodyBytesHeld, With(tags, "bodies_held"));
        yield return new Measurement<long>(f.BodyBytesRemoved, With(tags, "bodies_removed"));
        yield return new Measurement<long>(f.EnvelopeBytes, With(tags, "envelopes"));
    }

    /// <summary>Counts what a reconciliation run did.</summary>
    public void Reconciled(int applied, int duplicates, int marked)
    {
        if (applied > 0) ReconciliationReports.Add(applied, new KeyValuePair<string, object?>("outcome", "applied"));
        if (duplicates > 0) ReconciliationReports.Add(duplicates, new KeyValuePair<string, object?>("outcome", "duplicate"));
        if (marked > 0) ReconciliationReports.Add(marked, new KeyValuePair<string, object?>("outcome", "marked"));
    }

    public void EmailActorStarted() => Interlocked.Increment(ref _liveEmailActors);
    public void EmailActorStopped() => Interlocked.Decrement(ref _liveEmailActors);

    public long LiveEmailActors => Interlocked.Read(ref _liveEmailActors);

    /// <summary>Counts a provider call in flight and records its duration with its outcome.</summary>
    public async Task<T> MeasureProviderCallAsync<T>(string provider, Func<Task<T>> call, Func<T, string> outcome)
    {
        Interlocked.Increment(ref _providerCallsInFlight);
        var started = Stopwatch.GetTimestamp();
        var result = "exception";
        try
        {
            var value = await call();
            result = outcome(value);
            return value;
        }
        finally
        {
            Interlocked.Decrement(ref _providerCallsInFlight);
            ProviderCallDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("outcome", result));
        }
    }

    /// <summary>
    /// Counts a persisted email event; called by the email actor once the event is persisted, so the counters follow
    /// the journal, not intentions. A counter increment is thread-safe, so it needs no actor and no message of its own.
    /// </summary>
    public void Record(IEmailEvent evt)
    {
        switch (evt)
        {
            case EmailAccepted:
                EmailsAccepted.Add(1);
                break;
            case EmailDispatched:
                EmailsDispatched.Add(1);
                break;
            case EmailSent:
                EmailsSent.Add(1);
                break;
            case SendRetryScheduled:
                Retries.Add(1);
                break;
            case EmailSendFailed f:
                EmailsFailed.Add(1, new KeyValuePair<string, object?>("reason", f.KindOf().ToWire()));
                break;
            case ProviderEventRecorded p:
                ProviderEvents.Add(1, new KeyValuePair<string, object?>("type", p.Event.Kind.ToWire()));
                if (p.Event.Kind == ProviderEventKind.Delivered) RecipientsDelivered.Add(1);
                if (p.Event.Kind == ProviderEventKind.PermanentFailure)
                    RecipientsFailed.Add(1, new KeyValuePair<string, object?>("reason", p.Event.Reason ?? "unknown"));
                break;
        }
    }
}

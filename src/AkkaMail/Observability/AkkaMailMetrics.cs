using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AkkaMail.Observability;

/// <summary>
/// The service's own instruments (meter "AkkaMail"), exported for Prometheus at /metrics. Names follow
/// OpenTelemetry conventions; the exporter turns "akkamail.emails.accepted" into akkamail_emails_accepted_total.
/// </summary>
public static class AkkaMailMetrics
{
    public const string MeterName = "AkkaMail";
    private static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Counter<long> EmailsAccepted = Meter.CreateCounter<long>("akkamail.emails.accepted", "{email}", "Emails accepted (persisted) from clients.");
    public static readonly Counter<long> EmailsDispatched = Meter.CreateCounter<long>("akkamail.emails.dispatched", "{job}", "Send jobs durably queued.");
    public static readonly Counter<long> EmailsSent = Meter.CreateCounter<long>("akkamail.emails.sent", "{email}", "Emails accepted by the provider.");
    public static readonly Counter<long> EmailsFailed = Meter.CreateCounter<long>("akkamail.emails.failed", "{email}", "Emails failed before or at the provider, by reason.");
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("akkamail.emails.retries", "{attempt}", "Send attempts that failed transiently and were scheduled again.");
    public static readonly Counter<long> RecipientsDelivered = Meter.CreateCounter<long>("akkamail.recipients.delivered", "{recipient}", "Provider reports of delivery.");
    public static readonly Counter<long> RecipientsFailed = Meter.CreateCounter<long>("akkamail.recipients.failed", "{recipient}", "Provider reports of permanent failure, by reason.");
    public static readonly Counter<long> ProviderEvents = Meter.CreateCounter<long>("akkamail.provider.events", "{event}", "Provider events applied, by type.");
    public static readonly Counter<long> Webhooks = Meter.CreateCounter<long>("akkamail.webhooks.received", "{webhook}", "Webhooks received, by event type and outcome.");
    public static readonly Histogram<double> ProviderCallDuration = Meter.CreateHistogram<double>("akkamail.provider.call.duration", "s",
        "Duration of provider send calls, by provider and outcome.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = new[] { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 } });

    private static long _providerCallsInFlight;
    private static long _liveEmailActors;

    /// <summary>Sources of gauges that live elsewhere (queue depth).</summary>
    public static Func<long>? QueueDepth { get; set; }

    static AkkaMailMetrics()
    {
        Meter.CreateObservableGauge("akkamail.provider.calls.in_flight", () => Interlocked.Read(ref _providerCallsInFlight), "{call}", "Provider calls in progress.");
        Meter.CreateObservableGauge("akkamail.email_actors.live", () => Interlocked.Read(ref _liveEmailActors), "{actor}", "Email actors in memory (not passivated).");
        Meter.CreateObservableGauge("akkamail.read_side.lag.events", () => ReadSideLag?.Invoke().Events ?? 0, "{event}",
            "Journal events the read-side projection (read model, suppressions) has not stored yet.");
        Meter.CreateObservableGauge("akkamail.read_side.lag.seconds", () => ReadSideLag?.Invoke().Seconds ?? 0, "s",
            "While the read-side projection is behind: age of the newest event it has stored.");
        Meter.CreateObservableGauge("akkamail.queue.depth", () => QueueDepth?.Invoke() ?? 0, "{job}", "Send jobs waiting in the in-process queue (RabbitMQ: see the broker).");
    }

    /// <summary>The read side's lag, set by its hosting.</summary>
    public static Func<(long Events, double Seconds)>? ReadSideLag { get; set; }

    public static void EmailActorStarted() => Interlocked.Increment(ref _liveEmailActors);
    public static void EmailActorStopped() => Interlocked.Decrement(ref _liveEmailActors);

    public static long LiveEmailActors => Interlocked.Read(ref _liveEmailActors);

    /// <summary>Counts a provider call in flight and records its duration with its outcome.</summary>
    public static async Task<T> MeasureProviderCallAsync<T>(string provider, Func<Task<T>> call, Func<T, string> outcome)
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
}

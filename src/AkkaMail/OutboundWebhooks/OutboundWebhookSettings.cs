namespace AkkaMail.OutboundWebhooks;

/// <summary>The <c>akkamail.outbound-webhooks</c> knobs (hocon/akkamail.hocon says more about each).</summary>
/// <param name="RetryFor">How long a delivery is retried after its first attempt before it is given up.</param>
/// <param name="Parallelism">Deliveries in flight at once per endpoint (different emails; one email's go one by one).</param>
/// <param name="DisableAfter">Deliveries given up in a row that disable an endpoint.</param>
/// <param name="ResponseBodyLimit">Bytes of an answer read (and kept in the log); the rest is never read.</param>
/// <param name="Retention">Deliveries done (succeeded or failed) are deleted from the log this long after their creation.</param>
public sealed record OutboundWebhookSettings(
    TimeSpan RetryFor,
    TimeSpan MinBackoff,
    TimeSpan MaxBackoff,
    double Jitter,
    TimeSpan Timeout,
    int Parallelism,
    int RatePerSecond,
    int Burst,
    int DisableAfter,
    TimeSpan RotationOverlap,
    bool AllowLoopback,
    int ResponseBodyLimit,
    TimeSpan PollInterval,
    TimeSpan Retention)
{
    public static readonly OutboundWebhookSettings Default = new(
        RetryFor: TimeSpan.FromHours(24), MinBackoff: TimeSpan.FromSeconds(5), MaxBackoff: TimeSpan.FromHours(1), Jitter: 0.2,
        Timeout: TimeSpan.FromSeconds(10), Parallelism: 4, RatePerSecond: 50, Burst: 50, DisableAfter: 20,
        RotationOverlap: TimeSpan.FromHours(24), AllowLoopback: false, ResponseBodyLimit: 1024, PollInterval: TimeSpan.FromSeconds(1),
        Retention: TimeSpan.FromDays(30));
}

using Akka.Configuration;

namespace AkkaMail.Sending;

/// <summary>
/// The RabbitMQ transport's knobs: HOCON section <c>akkamail.rabbitmq</c> (see hocon/akkamail.hocon).
/// The connection itself (a secret) comes from ASP.NET configuration <c>RabbitMq:Uri</c>.
/// </summary>
public sealed record RabbitMqSendQueueSettings
{
    public const string DefaultUri = "amqp://guest:guest@localhost:5672/";

    public string Uri { get; init; } = DefaultUri;
    public string WorkQueue { get; init; } = "akkamail.send";
    public string DelayQueuePrefix { get; init; } = "akkamail.send.delay.";
    public string DeadLetterQueue { get; init; } = "akkamail.send.dead";
    public ushort Prefetch { get; init; } = 64;
    public int PublishMaxInFlight { get; init; } = 500;
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>0 = unbounded. When set, the work queue refuses (nacks) publishes beyond it (overflow reject-publish).</summary>
    public int WorkQueueMaxLength { get; init; }
    public TimeSpan RestartMinBackoff { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan RestartMaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Fixed TTLs of the delay queues, ascending.</summary>
    public IReadOnlyList<TimeSpan> DelayBuckets { get; init; } = DefaultBuckets;

    public static readonly IReadOnlyList<TimeSpan> DefaultBuckets =
    [
        TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500),
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10),
        TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2),
        TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(4), TimeSpan.FromHours(8),
        TimeSpan.FromHours(12), TimeSpan.FromHours(24),
    ];

    public string DelayQueueName(TimeSpan bucket) => DelayQueuePrefix + FormatDuration(bucket);

    /// <summary>The knobs of the loaded HOCON (see <see cref="Configuration.AkkaMailConfiguration.LoadKnobs"/>) and the
    /// connection <paramref name="uri"/> (validated with the options: required for this transport).</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Every knob that does not parse or is out
    /// of bounds, each named by its key.</exception>
    public static RabbitMqSendQueueSettings FromConfig(Config root, string? uri)
    {
        var d = new RabbitMqSendQueueSettings();
        var k = new Configuration.KnobReader(root);
        var settings = new RabbitMqSendQueueSettings
        {
            Uri = string.IsNullOrWhiteSpace(uri) ? d.Uri : uri,
            WorkQueue = k.String("akkamail.rabbitmq.work-queue", d.WorkQueue),
            DelayQueuePrefix = k.String("akkamail.rabbitmq.delay-queue-prefix", d.DelayQueuePrefix),
            DeadLetterQueue = k.String("akkamail.rabbitmq.dead-letter-queue", d.DeadLetterQueue),
            Prefetch = (ushort)k.Int("akkamail.rabbitmq.prefetch", d.Prefetch, min: 1, max: ushort.MaxValue),
            PublishMaxInFlight = k.Int("akkamail.rabbitmq.publish-max-in-flight", d.PublishMaxInFlight, min: 1),
            PublishTimeout = k.PositiveDuration("akkamail.rabbitmq.publish-timeout", d.PublishTimeout),
            WorkQueueMaxLength = k.Int("akkamail.rabbitmq.work-queue-max-length", d.WorkQueueMaxLength, min: 0),
            RestartMinBackoff = k.PositiveDuration("akkamail.rabbitmq.restart-min-backoff", d.RestartMinBackoff),
            RestartMaxBackoff = k.PositiveDuration("akkamail.rabbitmq.restart-max-backoff", d.RestartMaxBackoff),
            DelayBuckets = k.PositiveDurations("akkamail.rabbitmq.delay-buckets", d.DelayBuckets).Distinct().Order().ToArray(),
        };
        k.Require(settings.RestartMaxBackoff >= settings.RestartMinBackoff, "akkamail.rabbitmq.restart-max-backoff",
            "must be at least restart-min-backoff");
        k.ThrowIfAny<RabbitMqSendQueueSettings>();
        return settings;
    }

    /// <summary>A delay queue's name suffix (5s, 250ms, 2h): delay queues already declared on a broker keep their names.</summary>
    public static string FormatDuration(TimeSpan t) =>
        t.TotalMilliseconds % 3_600_000 == 0 ? $"{t.TotalHours:0}h"
        : t.TotalMilliseconds % 60_000 == 0 ? $"{t.TotalMinutes:0}m"
        : t.TotalMilliseconds % 1000 == 0 ? $"{t.TotalSeconds:0}s"
        : $"{t.TotalMilliseconds:0}ms";
}

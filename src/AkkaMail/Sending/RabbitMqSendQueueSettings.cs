using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Configuration;

namespace AkkaMail.Sending;

/// <summary>
/// The RabbitMQ transport's knobs: HOCON section <c>akkamail.rabbitmq</c> (see hocon/akkamail.hocon).
/// The connection itself (a secret) comes from ASP.NET configuration <c>RabbitMq:Uri</c>.
/// </summary>
public sealed partial record RabbitMqSendQueueSettings
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

    public static readonly IReadOnlyList<TimeSpan> DefaultBuckets = new[]
    {
        "100ms", "250ms", "500ms", "1s", "2s", "5s", "10s", "20s", "30s", "1m", "2m", "5m", "10m", "20m", "30m",
        "1h", "2h", "4h", "8h", "12h", "24h",
    }.Select(ParseDuration).ToArray();

    public string DelayQueueName(TimeSpan bucket) => DelayQueuePrefix + FormatDuration(bucket);

    public static RabbitMqSendQueueSettings FromConfig(Config root, string? uri)
    {
        var d = new RabbitMqSendQueueSettings();
        var c = root.GetConfig("akkamail.rabbitmq");
        if (c is null || c.IsEmpty) return string.IsNullOrWhiteSpace(uri) ? d : d with { Uri = uri };
        var buckets = c.HasPath("delay-buckets")
            ? c.GetStringList("delay-buckets").Select(ParseDuration).Distinct().OrderBy(t => t).ToArray()
            : d.DelayBuckets;
        if (buckets.Count == 0 || buckets[0] <= TimeSpan.Zero)
            throw new InvalidOperationException("akkamail.rabbitmq.delay-buckets: at least one positive duration");
        return new RabbitMqSendQueueSettings
        {
            Uri = string.IsNullOrWhiteSpace(uri) ? d.Uri : uri,
            WorkQueue = c.GetString("work-queue", d.WorkQueue),
            DelayQueuePrefix = c.GetString("delay-queue-prefix", d.DelayQueuePrefix),
            DeadLetterQueue = c.GetString("dead-letter-queue", d.DeadLetterQueue),
            Prefetch = checked((ushort)c.GetInt("prefetch", d.Prefetch)),
            PublishMaxInFlight = c.GetInt("publish-max-in-flight", d.PublishMaxInFlight),
            PublishTimeout = c.GetTimeSpan("publish-timeout", d.PublishTimeout),
            WorkQueueMaxLength = c.GetInt("work-queue-max-length", d.WorkQueueMaxLength),
            RestartMinBackoff = c.GetTimeSpan("restart-min-backoff", d.RestartMinBackoff),
            RestartMaxBackoff = c.GetTimeSpan("restart-max-backoff", d.RestartMaxBackoff),
            DelayBuckets = buckets,
        };
    }

    [GeneratedRegex(@"^\s*(?<n>\d+(\.\d+)?)\s*(?<u>ms|s|m|h|d)\s*$")]
    private static partial Regex DurationPattern();

    public static TimeSpan ParseDuration(string text)
    {
        var m = DurationPattern().Match(text);
        if (!m.Success) throw new FormatException($"Not a duration (e.g. 250ms, 5s, 2m, 1h, 1d): '{text}'");
        var n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
        return m.Groups["u"].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromDays(n),
        };
    }

    public static string FormatDuration(TimeSpan t) =>
        t.TotalMilliseconds % 3_600_000 == 0 ? $"{t.TotalHours:0}h"
        : t.TotalMilliseconds % 60_000 == 0 ? $"{t.TotalMinutes:0}m"
        : t.TotalMilliseconds % 1000 == 0 ? $"{t.TotalSeconds:0}s"
        : $"{t.TotalMilliseconds:0}ms";
}

namespace AkkaMail.MailgunFake;

/// <summary>How the fake behaves. Everything can be left at its default for a happy-path fake.</summary>
public sealed record MailgunFakeOptions
{
    /// <summary>The only domain the fake knows; others get 404 "Domain not found".</summary>
    public string Domain { get; init; } = "sandbox.akkamail.test";
    /// <summary>Accepted HTTP Basic password (user "api"); anything else gets 401 "Forbidden".</summary>
    public string ApiKey { get; init; } = "key-fake";
    /// <summary>Loopback by default; 0 = a free port.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }

    /// <summary>Delay before each send call is answered (changeable at run time through the server).</summary>
    public TimeSpan Latency { get; init; }
    /// <summary>Share of authenticated send calls that fail: half 429 (rate limited), a quarter 500, a quarter 503.</summary>
    public double FailureRate { get; init; }
    /// <summary>Statuses the next calls answer with, in order, before normal behaviour resumes (e.g. [429, 503, 400]).</summary>
    public IReadOnlyList<int> FailureSequence { get; init; } = [];
    /// <summary>The wait announced by a 429 (Retry-After, X-RateLimit-Reset and the "try again after" text).</summary>
    public TimeSpan RateLimitRetryAfter { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>When false a 429 carries only the "try again after" text, no Retry-After / X-RateLimit-Reset headers.</summary>
    public bool RateLimitHeaders { get; init; } = true;
    /// <summary>Seed for the failure dice (null = random).</summary>
    public int? Seed { get; init; }

    /// <summary>Mailgun's 25 MB message limit; larger requests get 413.</summary>
    public long MaxMessageSize { get; init; } = 25L * 1024 * 1024;
    public int MaxRecipients { get; init; } = 1000;
    /// <summary>Mailgun's rules on subject are lenient; turn on to require one.</summary>
    public bool RequireSubject { get; init; }

    /// <summary>Where to post webhooks for accepted messages (null = none are posted automatically).</summary>
    public string? WebhookUrl { get; init; }
    public string WebhookSigningKey { get; init; } = "fake-webhook-signing-key";
    /// <summary>Events that happen to each recipient of each accepted message, in order: each goes into the events log
    /// (same event id) and, with a <see cref="WebhookUrl"/>, is posted as a webhook. Without one, webhooks are disabled
    /// entirely and the events API alone tells.</summary>
    public IReadOnlyList<FakeWebhookEvent> WebhookEvents { get; init; } = [FakeWebhookEvent.Delivered];
    /// <summary>Per recipient (bare address), the events that happen to it instead of <see cref="WebhookEvents"/>; null:
    /// those for everyone.</summary>
    public Func<string, IReadOnlyList<FakeWebhookEvent>>? EventsFor { get; init; }
    /// <summary>Delay between acceptance and the first webhook (and between a recipient's successive events).</summary>
    public TimeSpan WebhookDelay { get; init; }
    /// <summary>Attempts per webhook: Mailgun retries anything but 200 and 406 (never for delivered); 1 = no retry.</summary>
    public int WebhookMaxAttempts { get; init; } = 1;
    public TimeSpan WebhookRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan WebhookTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Keep every accepted message in <see cref="MailgunFakeServer.Messages"/>; turn off for long benchmarks (counters still run).</summary>
    public bool RecordMessages { get; init; } = true;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Kestrel/ASP.NET logging is off unless configured here.</summary>
    public Action<Microsoft.Extensions.Logging.ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>An event the fake posts as a webhook. Use the static members or build a custom one.</summary>
public sealed record FakeWebhookEvent(
    string EventType,
    string? Severity = null,
    string? Reason = null,
    int? Code = null,
    string? Message = null,
    string? Description = null,
    string? EnhancedCode = null,
    string? Url = null)
{
    public static FakeWebhookEvent Accepted { get; } = new("accepted");
    public static FakeWebhookEvent Delivered { get; } = new("delivered", Code: 250, Message: "OK", Description: "");
    public static FakeWebhookEvent Opened { get; } = new("opened");
    public static FakeWebhookEvent Clicked { get; } = new("clicked", Url: "https://example.com/clicked");
    public static FakeWebhookEvent Unsubscribed { get; } = new("unsubscribed");
    public static FakeWebhookEvent Complained { get; } = new("complained");
    public static FakeWebhookEvent PermanentFailure { get; } = new("failed", "permanent", "bounce", 550, "5.1.1 The email account that you tried to reach does not exist.", "", "5.1.1");
    public static FakeWebhookEvent SuppressBounce { get; } = new("failed", "permanent", "suppress-bounce", 605, "", "Not delivering to previously bounced address");
    public static FakeWebhookEvent TemporaryFailure { get; } = new("failed", "temporary", "generic", 452, "4.2.2 The email account that you tried to reach is over quota.", "", "4.2.2");

    /// <summary>Parses "delivered", "opened", "clicked", "failed-permanent", "failed-temporary", "suppress-bounce", ...</summary>
    public static FakeWebhookEvent FromName(string name) => name.Trim().ToLowerInvariant() switch
    {
        "accepted" => Accepted,
        "delivered" => Delivered,
        "opened" => Opened,
        "clicked" => Clicked,
        "unsubscribed" => Unsubscribed,
        "complained" => Complained,
        "failed" or "failed-permanent" or "bounce" or "permanent" => PermanentFailure,
        "failed-temporary" or "temporary" => TemporaryFailure,
        "suppress-bounce" => SuppressBounce,
        var other => new FakeWebhookEvent(other),
    };
}

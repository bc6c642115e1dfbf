namespace AkkaMail.Mailgun;

/// <summary>The <c>signature</c> block of a webhook body. <see cref="Timestamp"/> is kept as sent (it is signed as text).</summary>
public sealed record MailgunSignature(string Timestamp, string Token, string Signature);

/// <summary>A parsed webhook body: signature block + <c>event-data</c>.</summary>
public sealed record MailgunWebhook(MailgunSignature Signature, MailgunEvent Event);

public enum MailgunEventType
{
    Unknown,
    Accepted,
    Rejected,
    Delivered,
    Failed,
    Opened,
    Clicked,
    Unsubscribed,
    Complained,
    Stored,
}

public enum MailgunSeverity { Other, Permanent, Temporary }

/// <summary>One Mailgun event (<c>event-data</c>). Only <see cref="Id"/>, <see cref="EventType"/> and <see cref="Timestamp"/>
/// are guaranteed; everything else is null/empty when absent or of an unexpected type.</summary>
public sealed record MailgunEvent
{
    public required string Id { get; init; }
    /// <summary>The event name exactly as sent (e.g. "failed").</summary>
    public required string EventType { get; init; }
    public MailgunEventType Type { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    public string? Recipient { get; init; }
    public string? RecipientDomain { get; init; }
    /// <summary>For <c>failed</c>: permanent or temporary; null when absent.</summary>
    public MailgunSeverity? Severity { get; init; }
    /// <summary>Raw <c>severity</c> text.</summary>
    public string? SeverityText { get; init; }
    /// <summary>For <c>failed</c>/<c>rejected</c>: e.g. bounce, suppress-bounce, generic.</summary>
    public string? Reason { get; init; }
    public MailgunDeliveryStatus? DeliveryStatus { get; init; }
    /// <summary><c>message.headers.message-id</c> without angle brackets: the id the send call returned.</summary>
    public string? MessageId { get; init; }
    /// <summary><c>user-variables</c> (the <c>v:</c> fields of the send); non-string values as their JSON text.</summary>
    public IReadOnlyDictionary<string, string> UserVariables { get; init; } = EmptyVariables;
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>For <c>clicked</c>: the URL clicked.</summary>
    public string? Url { get; init; }
    public MailgunClientInfo? ClientInfo { get; init; }
    public string? LogLevel { get; init; }
    /// <summary><c>flags.is-test-mode</c>.</summary>
    public bool IsTestMode { get; init; }

    public bool IsPermanentFailure => Type == MailgunEventType.Failed && Severity == MailgunSeverity.Permanent;
    public bool IsTemporaryFailure => Type == MailgunEventType.Failed && Severity == MailgunSeverity.Temporary;

    private static readonly IReadOnlyDictionary<string, string> EmptyVariables = new Dictionary<string, string>();
}

/// <summary><c>delivery-status</c>: the remote server's answer (SMTP code, or Mailgun's own 6xx codes).</summary>
public sealed record MailgunDeliveryStatus(int? Code, string? Message, string? Description, int? AttemptNo, string? EnhancedCode, int? RetrySeconds);

/// <summary>Who opened/clicked: top-level <c>ip</c> plus <c>client-info</c>.</summary>
public sealed record MailgunClientInfo(string? Ip, string? UserAgent, string? ClientName, string? ClientType, string? ClientOs, string? DeviceType);

public enum MailgunParseErrorKind
{
    /// <summary>Not JSON, not an object, or no usable <c>signature</c> block: cannot be authenticated.</summary>
    SignatureMissing,
    /// <summary>The <c>event-data</c> is missing or lacks a valid id/event/timestamp.</summary>
    MalformedEvent,
    /// <summary>The body exceeded the size limit.</summary>
    TooLarge,
}

public sealed record MailgunParseError(MailgunParseErrorKind Kind, string Reason);

public abstract record MailgunWebhookParseResult
{
    private MailgunWebhookParseResult() { }
    public sealed record Success(MailgunWebhook Webhook) : MailgunWebhookParseResult;
    /// <summary><paramref name="Signature"/> is set when the signature block was readable but the event was not,
    /// so the caller can still authenticate the sender before deciding how to answer.</summary>
    public sealed record Failure(MailgunParseError Error, MailgunSignature? Signature = null) : MailgunWebhookParseResult;
}

public abstract record MailgunEventParseResult
{
    private MailgunEventParseResult() { }
    public sealed record Success(MailgunEvent Event) : MailgunEventParseResult;
    public sealed record Failure(MailgunParseError Error) : MailgunEventParseResult;
}

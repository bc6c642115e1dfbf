namespace AkkaMail.MailgunFake;

/// <summary>A message the fake accepted, with every form field as received.</summary>
public sealed record FakeSentMessage
{
    /// <summary>Without angle brackets (as webhooks carry it); the API answered <c>&lt;MessageId&gt;</c>.</summary>
    public required string MessageId { get; init; }
    public required DateTimeOffset ReceivedAt { get; init; }
    public required string From { get; init; }
    public IReadOnlyList<string> To { get; init; } = [];
    public IReadOnlyList<string> Cc { get; init; } = [];
    public IReadOnlyList<string> Bcc { get; init; } = [];
    public string? Subject { get; init; }
    public string? Text { get; init; }
    public string? Html { get; init; }
    public string? Template { get; init; }
    /// <summary>The <c>o:tag</c> values.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>The <c>h:</c> fields, without the prefix (e.g. "Reply-To", "X-Email-Id").</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    /// <summary>The <c>v:</c> fields without the prefix, plus any X-Mailgun-Variables JSON: the webhooks' user-variables.</summary>
    public IReadOnlyDictionary<string, string> Variables { get; init; } = new Dictionary<string, string>();
    /// <summary>The other <c>o:</c> fields (testmode, tracking, deliverytime, ...) without the prefix.</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<FakeAttachment> Attachments { get; init; } = [];
    public IReadOnlyList<FakeAttachment> Inline { get; init; } = [];
    /// <summary>Every text field, as received (repeated fields keep all values, in order).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Fields { get; init; } = new Dictionary<string, IReadOnlyList<string>>();
    /// <summary>The request's media type, e.g. multipart/form-data.</summary>
    public required string ContentType { get; init; }
    public long Size { get; init; }

    public string? ReplyTo => Headers.TryGetValue("Reply-To", out var r) ? r : null;
    /// <summary>Bare addresses of to + cc + bcc: one webhook per recipient.</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];
}

public sealed record FakeAttachment(string FileName, string ContentType, byte[] Content);

/// <summary>One webhook post the fake made: the HTTP status the listener answered, or the error.</summary>
public sealed record FakeWebhookDelivery(string Url, string EventType, string Recipient, string MessageId, string EventId, int Attempts, int? StatusCode, string? Error, byte[] Body);

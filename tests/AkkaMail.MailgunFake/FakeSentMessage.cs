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

    /// <summary>The <c>recipient-variables</c> field, parsed (bare lower-case address → name → value); null without it.
    /// With it Mailgun sends batch mail: one message per <c>to</c> recipient (see <see cref="ForRecipient"/>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? RecipientVariables { get; init; }

    /// <summary>
    /// The message as <paramref name="address"/> receives it, as Mailgun builds it. With recipient-variables (batch
    /// sending): its own copy, whose To shows only its own address, with <c>%recipient.name%</c> replaced by its own
    /// values (a name it has no value for stays as written). Without: the message as sent, every To recipient visible.
    /// </summary>
    public FakeSentMessage ForRecipient(string address)
    {
        if (RecipientVariables is null) return this;
        var bare = FakeAddress.Bare(address) ?? address;
        var values = RecipientVariables.TryGetValue(bare.ToLowerInvariant(), out var v) ? v : new Dictionary<string, string>();
        return this with
        {
            To = To.Where(a => string.Equals(FakeAddress.Bare(a), bare, StringComparison.OrdinalIgnoreCase)).ToArray(),
            Subject = Substitute(Subject, values),
            Text = Substitute(Text, values),
            Html = Substitute(Html, values),
            Recipients = [bare],
            RecipientVariables = new Dictionary<string, IReadOnlyDictionary<string, string>> { [bare.ToLowerInvariant()] = values },
        };
    }

    private static string? Substitute(string? text, IReadOnlyDictionary<string, string> values) =>
        text is null ? null
            : System.Text.RegularExpressions.Regex.Replace(text, @"%recipient\.([^%\s]+)%",
                m => values.TryGetValue(m.Groups[1].Value, out var value) ? value : m.Value);
}

public sealed record FakeAttachment(string FileName, string ContentType, byte[] Content);

/// <summary>One webhook post the fake made: the HTTP status the listener answered, or the error.</summary>
public sealed record FakeWebhookDelivery(string Url, string EventType, string Recipient, string MessageId, string EventId, int Attempts, int? StatusCode, string? Error, byte[] Body);

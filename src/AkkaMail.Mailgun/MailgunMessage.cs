namespace AkkaMail.Mailgun;

/// <summary>One call of Mailgun's send API. Addresses may carry display names (<c>"Alice &lt;alice@example.com&gt;"</c>).</summary>
public sealed record MailgunMessage
{
    /// <summary>Mailgun accepts at most this many <c>o:tag</c> values per message.</summary>
    public const int MaxTags = 3;

    /// <summary>Mailgun accepts at most this many recipients (to + cc + bcc) per call.</summary>
    public const int MaxRecipients = 1000;

    public required string From { get; init; }
    public IReadOnlyList<string> To { get; init; } = [];
    public IReadOnlyList<string> Cc { get; init; } = [];
    public IReadOnlyList<string> Bcc { get; init; } = [];
    /// <summary>Sent as the <c>h:Reply-To</c> header.</summary>
    public string? ReplyTo { get; init; }
    public string? Subject { get; init; }
    public string? Text { get; init; }
    public string? Html { get; init; }
    /// <summary>Sent as <c>o:tag</c>, at most <see cref="MaxTags"/>.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>Custom MIME headers, sent as <c>h:Name</c>.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    /// <summary>Custom variables, sent as <c>v:name</c>; they come back in webhooks as <c>user-variables</c>.</summary>
    public IReadOnlyDictionary<string, string> Variables { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<MailgunAttachment> Attachments { get; init; } = [];
    /// <summary>Batch sending: sent as <c>recipient-variables</c> (JSON, address → name → value). With it Mailgun sends
    /// one message per <c>to</c> recipient, showing only that recipient, with <c>%recipient.name%</c> substituted;
    /// without it every recipient sees the whole <c>to</c> list.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? RecipientVariables { get; init; }
    /// <summary><c>o:testmode=yes</c>: Mailgun accepts but does not deliver.</summary>
    public bool TestMode { get; init; }
    /// <summary>Tracking overrides (<c>o:tracking</c>, <c>o:tracking-clicks</c>, <c>o:tracking-opens</c>); null = domain default.</summary>
    public MailgunTracking? Tracking { get; init; }
    /// <summary>Scheduled delivery, sent as <c>o:deliverytime</c> (RFC 2822).</summary>
    public DateTimeOffset? DeliveryTime { get; init; }

    public int RecipientCount => To.Count + Cc.Count + Bcc.Count;
}

public sealed record MailgunAttachment(string FileName, string ContentType, byte[] Content);

public enum MailgunClickTracking { No, Yes, HtmlOnly }

/// <summary>Per-message tracking overrides; a null member keeps the domain's setting.</summary>
public sealed record MailgunTracking(bool? Enabled = null, MailgunClickTracking? Clicks = null, bool? Opens = null);

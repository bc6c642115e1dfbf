namespace AkkaMail.Mailgun;

/// <summary>The outcome of one send call: <see cref="Accepted"/>, <see cref="TransientFailure"/> or <see cref="PermanentFailure"/>.</summary>
public abstract record MailgunSendResult
{
    private MailgunSendResult() { }

    /// <summary>Mailgun queued the message. <paramref name="MessageId"/> has no angle brackets
    /// (as in webhooks' <c>message.headers.message-id</c>); empty only if Mailgun's 2xx body carried no id.</summary>
    public sealed record Accepted(string MessageId) : MailgunSendResult;

    /// <summary>Worth retrying later: 408, 420, 429, 5xx, timeout, connection failure.
    /// <paramref name="StatusCode"/> is null when no HTTP response was received.</summary>
    public sealed record TransientFailure(int? StatusCode, string Reason, TimeSpan? RetryAfter) : MailgunSendResult;

    /// <summary>Retrying will not help (other 4xx): <paramref name="Reason"/> is Mailgun's <c>message</c>.</summary>
    public sealed record PermanentFailure(int StatusCode, string Reason) : MailgunSendResult;
}

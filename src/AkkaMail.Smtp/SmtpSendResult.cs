namespace AkkaMail.Smtp;

/// <summary>A recipient the server refused for good (a 5xx reply to its RCPT TO).</summary>
public sealed record SmtpRefusedRecipient(string Address, int Code, string Reply);

/// <summary>The outcome of one SMTP transaction.</summary>
public abstract record SmtpSendResult
{
    private SmtpSendResult() { }

    /// <summary>The server took the message (250 after DATA) for every recipient but <paramref name="Refused"/>.</summary>
    public sealed record Accepted(IReadOnlyList<string> AcceptedRecipients, IReadOnlyList<SmtpRefusedRecipient> Refused, string Reply)
        : SmtpSendResult;

    /// <summary>Worth trying again later: a 4xx reply (to any command: then no recipient got the message), a timeout, a
    /// connection failure. <paramref name="Code"/> is null when no reply was read.</summary>
    public sealed record TransientFailure(int? Code, string Reason) : SmtpSendResult;

    /// <summary>Retrying will not help: a 5xx to the sender or the message, or every recipient refused with a 5xx.</summary>
    public sealed record PermanentFailure(int Code, string Reason, IReadOnlyList<SmtpRefusedRecipient> Refused) : SmtpSendResult;
}

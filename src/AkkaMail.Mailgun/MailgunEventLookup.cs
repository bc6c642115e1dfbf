namespace AkkaMail.Mailgun;

/// <summary>What Mailgun's events API says about a search for one event: <see cref="Found"/>, <see cref="NotFound"/> or
/// <see cref="Failed"/> (the API could not be asked: then nothing is known).</summary>
public abstract record MailgunEventLookup
{
    private MailgunEventLookup() { }

    /// <param name="MessageId">The message id of the event's message, without angle brackets.</param>
    public sealed record Found(string EventId, string MessageId, DateTimeOffset At) : MailgunEventLookup;

    public sealed record NotFound : MailgunEventLookup;

    public sealed record Failed(int? StatusCode, string Reason) : MailgunEventLookup;
}

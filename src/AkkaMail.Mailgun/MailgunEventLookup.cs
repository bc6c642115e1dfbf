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

/// <summary>What Mailgun's events API holds for a search of every event: <see cref="Found"/> (oldest first; possibly none)
/// or <see cref="Failed"/> (the API could not be asked, or not to the end: then nothing is known).</summary>
public abstract record MailgunEventSearch
{
    private MailgunEventSearch() { }

    /// <param name="Unreadable">Items of the pages that were not readable events (skipped).</param>
    public sealed record Found(IReadOnlyList<MailgunEvent> Events, int Unreadable) : MailgunEventSearch;

    /// <param name="RetryAfter">For 420 and 429: how long Mailgun asks to wait (Retry-After, X-RateLimit-Reset, or its
    /// "try again after" text); null when it says nothing or for other failures.</param>
    public sealed record Failed(int? StatusCode, string Reason, TimeSpan? RetryAfter = null) : MailgunEventSearch
    {
        /// <summary>Mailgun's rate limit (429) or sending limit (420): wait before asking again.</summary>
        public bool IsRateLimited => StatusCode is 420 or 429;
    }
}

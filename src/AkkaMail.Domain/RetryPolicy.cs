namespace AkkaMail.Domain;

/// <summary>
/// Exponential backoff with jitter, each wait capped at <paramref name="MaxBackoff"/>; attempts are numbered from 1.
/// An email is retried until <paramref name="Deadline"/> after it was due (accepted, or its <c>sendAt</c>): the last
/// retry is made at the deadline, and a transient failure after it fails the email. <paramref name="MaxAttempts"/> is
/// an optional cap on attempts besides (0: none).
/// </summary>
/// <param name="Deadline">How long after it was due an email may still be retried; null: no deadline.</param>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan MinBackoff, TimeSpan MaxBackoff, double Jitter, TimeSpan? Deadline = null)
{
    /// <summary>No attempt cap; 2 s doubling to 10 min per wait; given up 24 h after the email was due. A provider
    /// outage of hours (or a whole night) costs the email a delay, not its delivery: about 150 attempts in 24 h.</summary>
    public static readonly RetryPolicy Default = new(0, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10), 0.2, TimeSpan.FromHours(24));

    /// <summary>Is attempt <paramref name="attempt"/> the last the cap allows?</summary>
    public bool IsLastAttempt(int attempt) => MaxAttempts > 0 && attempt >= MaxAttempts;

    /// <summary>The wait before attempt <paramref name="nextAttempt"/>; <paramref name="random01"/> in [0,1).</summary>
    public TimeSpan BackoffBefore(int nextAttempt, double random01, TimeSpan? providerRetryAfter = null)
    {
        var exponent = Math.Clamp(nextAttempt - 2, 0, 30);
        var baseMs = Math.Min(MaxBackoff.TotalMilliseconds, MinBackoff.TotalMilliseconds * Math.Pow(2, exponent));
        var jittered = baseMs * (1 + Jitter * (2 * random01 - 1));
        var ms = Math.Clamp(jittered, MinBackoff.TotalMilliseconds, MaxBackoff.TotalMilliseconds);
        // A provider's "retry after" is a floor: retrying sooner only earns another 429.
        if (providerRetryAfter is { } ra && ra.TotalMilliseconds > ms) ms = ra.TotalMilliseconds;
        return TimeSpan.FromMilliseconds(ms);
    }
}

/// <summary>What a decision may depend on besides the state: time, randomness, policy. Pure functions get it passed in.</summary>
/// <param name="AttemptTimeout">Longer than any provider call may take: an attempt started longer ago than this
/// and never finished was lost with its process.</param>
public sealed record DecisionContext(DateTimeOffset Now, RetryPolicy RetryPolicy, TimeSpan AttemptTimeout, double Random01 = 0.5)
{
    public static DecisionContext At(DateTimeOffset now) => new(now, RetryPolicy.Default, TimeSpan.FromMinutes(2));
}

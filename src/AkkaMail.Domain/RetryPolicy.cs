namespace AkkaMail.Domain;

/// <summary>Exponential backoff with jitter, capped; attempts are numbered from 1.</summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan MinBackoff, TimeSpan MaxBackoff, double Jitter)
{
    public static readonly RetryPolicy Default = new(8, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10), 0.2);

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

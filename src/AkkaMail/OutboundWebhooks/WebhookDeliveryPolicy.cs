namespace AkkaMail.OutboundWebhooks;

/// <summary>What one POST to an endpoint came to.</summary>
public abstract record WebhookAttemptResult
{
    /// <summary>The endpoint answered.</summary>
    public sealed record Answered(int StatusCode, string? Body, TimeSpan? RetryAfter) : WebhookAttemptResult;
    /// <summary>No answer: connection refused or reset, DNS failure, timeout.</summary>
    public sealed record NoAnswer(string Error) : WebhookAttemptResult;
    /// <summary>Not attempted: the host resolves to an address webhooks may not reach.</summary>
    public sealed record Refused(string Error) : WebhookAttemptResult;
}

/// <summary>What the endpoint itself must undergo after an attempt.</summary>
public enum EndpointEffect { None, Succeeded, GivenUp, Gone }

/// <summary>
/// The retry rules, pure: 2xx delivered; network errors, timeouts, 408, 429 (its Retry-After honoured) and 5xx retried
/// with exponential backoff and jitter until <see cref="OutboundWebhookSettings.RetryFor"/> after the first attempt;
/// 410 stops the delivery and disables the endpoint; any other answer (3xx included: redirects are not followed, 4xx)
/// stops that delivery; an address refused by the guard stops it too.
/// </summary>
public static class WebhookDeliveryPolicy
{
    public static (WebhookDelivery Next, EndpointEffect Effect) After(WebhookDelivery delivery, WebhookAttemptResult result,
        DateTimeOffset now, OutboundWebhookSettings settings, double random)
    {
        var first = delivery.FirstAttemptAt ?? now;
        var d = delivery with { Attempts = delivery.Attempts + 1, FirstAttemptAt = first, LastAttemptAt = now };
        switch (result)
        {
            case WebhookAttemptResult.Answered { StatusCode: >= 200 and < 300 } ok:
                return (d with { Status = WebhookDeliveryStatus.Succeeded, LastStatusCode = ok.StatusCode, LastResponse = ok.Body, LastError = null },
                    EndpointEffect.Succeeded);
            case WebhookAttemptResult.Answered { StatusCode: 410 } gone:
                return (d with { Status = WebhookDeliveryStatus.Failed, LastStatusCode = 410, LastResponse = gone.Body,
                    LastError = "410 Gone: the endpoint is disabled" }, EndpointEffect.Gone);
            case WebhookAttemptResult.Answered { StatusCode: 408 or 429 or >= 500 } transient:
                return Retry(d with { LastStatusCode = transient.StatusCode, LastResponse = transient.Body, LastError = null },
                    first, now, settings, random, transient.RetryAfter);
            case WebhookAttemptResult.Answered other:
                return (d with { Status = WebhookDeliveryStatus.Failed, LastStatusCode = other.StatusCode, LastResponse = other.Body,
                    LastError = $"{other.StatusCode}: not retried" }, EndpointEffect.GivenUp);
            case WebhookAttemptResult.NoAnswer none:
                return Retry(d with { LastStatusCode = null, LastResponse = null, LastError = none.Error }, first, now, settings, random, null);
            case WebhookAttemptResult.Refused refused:
                return (d with { Status = WebhookDeliveryStatus.Failed, LastStatusCode = null, LastResponse = null, LastError = refused.Error },
                    EndpointEffect.GivenUp);
            default:
                throw new ArgumentOutOfRangeException(nameof(result), result, null);
        }
    }

    /// <summary>The wait before attempt n+1 (n ≥ 1): min-backoff doubled per attempt, capped, ± jitter.</summary>
    public static TimeSpan Backoff(int attempts, OutboundWebhookSettings settings, double random)
    {
        var exponent = Math.Min(attempts - 1, 30);
        var wait = Math.Min(settings.MinBackoff.TotalMilliseconds * Math.Pow(2, exponent), settings.MaxBackoff.TotalMilliseconds);
        wait *= 1 + settings.Jitter * (2 * random - 1);
        return TimeSpan.FromMilliseconds(Math.Max(0, wait));
    }

    private static (WebhookDelivery, EndpointEffect) Retry(WebhookDelivery d, DateTimeOffset first, DateTimeOffset now,
        OutboundWebhookSettings settings, double random, TimeSpan? retryAfter)
    {
        var wait = Backoff(d.Attempts, settings, random);
        if (retryAfter is { } asked && asked > wait) wait = asked;
        var next = now + wait;
        if (next > first + settings.RetryFor)
            return (d with { Status = WebhookDeliveryStatus.Failed, LastError = $"gave up after {d.Attempts} attempts in {Format(now - first)}" +
                (d.LastError is { } e ? $" (last: {e})" : d.LastStatusCode is { } s ? $" (last: {s})" : "") }, EndpointEffect.GivenUp);
        return (d with { NextAttemptAt = next }, EndpointEffect.None);
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{t.TotalHours:0.#} h" : t.TotalMinutes >= 1 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalSeconds:0.#} s";
}

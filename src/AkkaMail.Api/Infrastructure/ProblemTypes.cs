namespace AkkaMail.Api.Infrastructure;

/// <summary>Stable problem "type" URIs, one per kind of error (RFC 9457).</summary>
public static class ProblemTypes
{
    private const string Base = "https://akkamail.dev/problems/";
    public const string Validation = Base + "validation";
    public const string MalformedJson = Base + "malformed-json";
    public const string Unauthorized = Base + "unauthorized";
    public const string Forbidden = Base + "forbidden";
    public const string NotFound = Base + "not-found";
    public const string IdempotencyConflict = Base + "idempotency-conflict";
    public const string Conflict = Base + "conflict";
    public const string PayloadTooLarge = Base + "payload-too-large";
    public const string UnsupportedMediaType = Base + "unsupported-media-type";
    public const string Unavailable = Base + "unavailable";
    public const string Internal = Base + "internal";
    public const string RateLimited = Base + "rate-limited";
}

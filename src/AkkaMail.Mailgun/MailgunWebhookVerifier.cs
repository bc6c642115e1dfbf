using AkkaMail.Providers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AkkaMail.Mailgun;

public enum WebhookVerification
{
    /// <summary>Signature matches and the timestamp is fresh (and, with a token store, the token is new).</summary>
    Valid,
    /// <summary>The HMAC does not match: wrong key or tampered timestamp/token/signature.</summary>
    BadSignature,
    /// <summary>Correctly signed but the timestamp is older than the tolerance, or further ahead of now than the
    /// allowed clock skew.</summary>
    Stale,
    /// <summary>Missing or ill-formed timestamp, token or signature.</summary>
    Malformed,
    /// <summary>Correctly signed and fresh, but the token was seen before.</summary>
    Replayed,
}

/// <summary>Checks Mailgun's webhook signature: hex(HMAC-SHA256(signing key, timestamp + token)), compared in
/// constant time, plus a freshness window around the injected clock: a signature may be up to <see cref="Tolerance"/>
/// old, and at most <see cref="MaxClockSkew"/> ahead of our clock.</summary>
public sealed class MailgunWebhookVerifier
{
    /// <summary>
    /// 9 hours. Mailgun retries a webhook it could not deliver after about 5 min, 10 min, 15 min, 1 h, 2 h and 4 h
    /// (about 7.5 h after the first try, 8 h as Mailgun puts it) and every retry carries the ORIGINAL signature block
    /// (timestamp, token): a window shorter than the schedule refuses the retries as stale and loses their events.
    /// 9 h covers the schedule with room for delivery delays. Replay protection does not rest on the window alone:
    /// a token is remembered for the whole window once its event is applied, and events are deduplicated by id.
    /// </summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromHours(9);
    /// <summary>How far a signature's timestamp may be ahead of our clock (the two clocks' skew): Mailgun never
    /// signs in the future, so a long window that way would only serve a forger. The tolerance if that is shorter.</summary>
    public static readonly TimeSpan DefaultMaxClockSkew = TimeSpan.FromMinutes(5);
    private const int MaxTokenLength = 512;
    private readonly byte[] _key;
    private readonly TimeProvider _clock;

    public MailgunWebhookVerifier(string signingKey, TimeProvider clock, TimeSpan tolerance)
    {
        ArgumentException.ThrowIfNullOrEmpty(signingKey);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(tolerance, TimeSpan.Zero);
        _key = Encoding.UTF8.GetBytes(signingKey);
        _clock = clock;
        Tolerance = tolerance;
        MaxClockSkew = tolerance < DefaultMaxClockSkew ? tolerance : DefaultMaxClockSkew;
    }

    public MailgunWebhookVerifier(string signingKey) : this(signingKey, TimeProvider.System, DefaultTolerance) { }

    /// <summary>How old a signature may be (its timestamp before now).</summary>
    public TimeSpan Tolerance { get; }

    /// <summary>How far ahead of now a signature's timestamp may be.</summary>
    public TimeSpan MaxClockSkew { get; }

    public WebhookVerification Verify(MailgunSignature signature) =>
        Verify(signature.Timestamp, signature.Token, signature.Signature);

    public WebhookVerification Verify(string? timestamp, string? token, string? signature)
    {
        if (!TryParseTimestamp(timestamp, out var when)
            || string.IsNullOrEmpty(token) || token.Length > MaxTokenLength
            || signature is null || signature.Length != 64)
            return WebhookVerification.Malformed;

        Span<byte> given = stackalloc byte[32];
        if (!TryDecodeHex(signature, given)) return WebhookVerification.Malformed;

        Span<byte> expected = stackalloc byte[32];
        Hmac(_key, timestamp!, token, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, given)) return WebhookVerification.BadSignature;

        var age = _clock.GetUtcNow() - when;
        return age > Tolerance || -age > MaxClockSkew ? WebhookVerification.Stale : WebhookVerification.Valid;
    }

    /// <summary>Verifies, then remembers the token in <paramref name="tokens"/> until the timestamp goes stale;
    /// a token seen before gives <see cref="WebhookVerification.Replayed"/>.</summary>
    public async ValueTask<WebhookVerification> VerifyAndRememberAsync(MailgunSignature signature, IWebhookTokenStore tokens, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var result = Verify(signature);
        if (result != WebhookVerification.Valid) return result;
        TryParseTimestamp(signature.Timestamp, out var when);
        return await tokens.TryRememberAsync(signature.Token, when + Tolerance, ct).ConfigureAwait(false)
            ? WebhookVerification.Valid
            : WebhookVerification.Replayed;
    }

    /// <summary>Was this (verified) signature's token seen before, and is it still remembered? Checked before applying
    /// its event; the token is remembered with <see cref="RememberAsync"/> only after.</summary>
    public ValueTask<bool> IsReplayAsync(MailgunSignature signature, IWebhookTokenStore tokens, CancellationToken ct = default) =>
        tokens.IsKnownAsync(signature.Token, ct);

    /// <summary>Remembers a verified signature's token until its timestamp goes stale (once its event is applied):
    /// timestamp + <see cref="Tolerance"/>, so for as long as the signature itself would be accepted.</summary>
    public async ValueTask RememberAsync(MailgunSignature signature, IWebhookTokenStore tokens, CancellationToken ct = default)
    {
        TryParseTimestamp(signature.Timestamp, out var when);
        await tokens.TryRememberAsync(signature.Token, when + Tolerance, ct).ConfigureAwait(false);
    }

    /// <summary>Lower-case hex HMAC-SHA256 of timestamp + token: what Mailgun puts in <c>signature.signature</c>.</summary>
    public static string ComputeSignature(string signingKey, string timestamp, string token)
    {
        Span<byte> mac = stackalloc byte[32];
        Hmac(Encoding.UTF8.GetBytes(signingKey), timestamp, token, mac);
        return Convert.ToHexStringLower(mac);
    }

    private static void Hmac(byte[] key, string timestamp, string token, Span<byte> destination)
    {
        var data = Encoding.UTF8.GetBytes(timestamp + token);
        HMACSHA256.HashData(key, data, destination);
    }

    /// <summary>Mailgun's timestamp: decimal epoch seconds, as a string.</summary>
    public static bool TryParseTimestamp(string? timestamp, out DateTimeOffset when)
    {
        when = default;
        if (string.IsNullOrEmpty(timestamp) || timestamp.Length > 12) return false;
        foreach (var c in timestamp) if (c is < '0' or > '9') return false;
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253402300799) return false;
        when = DateTimeOffset.FromUnixTimeSeconds(seconds);
        return true;
    }

    private static bool TryDecodeHex(string hex, Span<byte> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
            if ((hi | lo) < 0) return false;
            destination[i] = (byte)((hi << 4) | lo);
        }
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}

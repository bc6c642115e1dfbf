using System.Text.Json;

namespace AkkaMail.Mailgun;

/// <summary>Parses Mailgun's JSON webhook bodies. Never throws on any input: errors come back as results.</summary>
public static class MailgunWebhookParser
{
    /// <summary>Default body limit for <see cref="ParseAsync"/>: real payloads are a few KB.</summary>
    public const int DefaultMaxBytes = 1024 * 1024;
    private const int MaxDepth = 32;
    private static readonly JsonDocumentOptions DocOptions = new() { MaxDepth = MaxDepth, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Parses a whole webhook body (<c>{"signature": {...}, "event-data": {...}}</c>).</summary>
    public static MailgunWebhookParseResult Parse(ReadOnlySpan<byte> body)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(SkipBom(body).ToArray(), DocOptions);
        }
        catch (JsonException e)
        {
            return Fail(MailgunParseErrorKind.SignatureMissing, "Body is not valid JSON: " + e.Message);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Fail(MailgunParseErrorKind.SignatureMissing, "Body is not a JSON object.");
            MailgunSignature sig;
            try
            {
                if (!root.TryGetProperty("signature", out var sigEl) || sigEl.ValueKind != JsonValueKind.Object)
                    return Fail(MailgunParseErrorKind.SignatureMissing, "No 'signature' object.");
                var timestamp = ScalarText(sigEl, "timestamp");
                var token = Str(sigEl, "token");
                var signature = Str(sigEl, "signature");
                if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(token) || string.IsNullOrEmpty(signature))
                    return Fail(MailgunParseErrorKind.SignatureMissing, "The 'signature' object lacks timestamp, token or signature.");
                sig = new MailgunSignature(timestamp, token, signature);
            }
            catch (Exception e) when (IsDataError(e))
            {
                return Fail(MailgunParseErrorKind.SignatureMissing, "Unreadable 'signature' object: " + e.Message);
            }

            try
            {
                if (!root.TryGetProperty("event-data", out var data))
                    return new MailgunWebhookParseResult.Failure(new(MailgunParseErrorKind.MalformedEvent, "No 'event-data' object."), sig);
                return ReadEvent(data) switch
                {
                    (MailgunEvent e, _) => new MailgunWebhookParseResult.Success(new MailgunWebhook(sig, e)),
                    (_, var reason) => new MailgunWebhookParseResult.Failure(new(MailgunParseErrorKind.MalformedEvent, reason!), sig),
                };
            }
            catch (Exception e) when (IsDataError(e))
            {
                return new MailgunWebhookParseResult.Failure(new(MailgunParseErrorKind.MalformedEvent, "Unreadable 'event-data': " + e.Message), sig);
            }
        }

        static MailgunWebhookParseResult Fail(MailgunParseErrorKind kind, string reason) =>
            new MailgunWebhookParseResult.Failure(new MailgunParseError(kind, reason));
    }

    /// <summary>What reading a parsed document can throw on hostile content (e.g. invalid UTF-8 or lone surrogates in a string).</summary>
    private static bool IsDataError(Exception e) => e is JsonException or InvalidOperationException or FormatException or ArgumentException or OverflowException;

    public static MailgunWebhookParseResult Parse(string body) => Parse(System.Text.Encoding.UTF8.GetBytes(body));

    /// <summary>Reads at most <paramref name="maxBytes"/> from <paramref name="body"/> and parses it; a longer body gives
    /// <see cref="MailgunParseErrorKind.TooLarge"/>. Only I/O errors of the stream and cancellation propagate.</summary>
    public static async Task<MailgunWebhookParseResult> ParseAsync(Stream body, int maxBytes = DefaultMaxBytes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        var buffer = new byte[Math.Min(maxBytes + 1, 64 * 1024)];
        var total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                if (buffer.Length > maxBytes) break;
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, (long)maxBytes + 1));
            }
            var read = await body.ReadAsync(buffer.AsMemory(total), ct).ConfigureAwait(false);
            if (read == 0) break;
            total += read;
        }
        if (total > maxBytes)
            return new MailgunWebhookParseResult.Failure(new(MailgunParseErrorKind.TooLarge, $"Body exceeds {maxBytes} bytes."));
        return Parse(buffer.AsSpan(0, total));
    }

    /// <summary>Parses only an <c>event-data</c> object (as in Mailgun's Events API and documentation samples).</summary>
    public static MailgunEventParseResult ParseEventData(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(SkipBom(json).ToArray(), DocOptions);
            return ReadEvent(doc.RootElement) switch
            {
                (MailgunEvent e, _) => new MailgunEventParseResult.Success(e),
                (_, var reason) => new MailgunEventParseResult.Failure(new(MailgunParseErrorKind.MalformedEvent, reason!)),
            };
        }
        catch (Exception e) when (IsDataError(e))
        {
            return new MailgunEventParseResult.Failure(new(MailgunParseErrorKind.MalformedEvent, "Not valid JSON: " + e.Message));
        }
    }

    public static MailgunEventParseResult ParseEventData(string json) => ParseEventData(System.Text.Encoding.UTF8.GetBytes(json));

    public static MailgunEventType ParseEventType(string? name) => name switch
    {
        "accepted" => MailgunEventType.Accepted,
        "rejected" => MailgunEventType.Rejected,
        "delivered" => MailgunEventType.Delivered,
        "failed" => MailgunEventType.Failed,
        "opened" => MailgunEventType.Opened,
        "clicked" => MailgunEventType.Clicked,
        "unsubscribed" => MailgunEventType.Unsubscribed,
        "complained" => MailgunEventType.Complained,
        "stored" => MailgunEventType.Stored,
        _ => MailgunEventType.Unknown,
    };

    private static ReadOnlySpan<byte> SkipBom(ReadOnlySpan<byte> s) =>
        s.Length >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF ? s[3..] : s;

    private static (MailgunEvent? Event, string? Reason) ReadEvent(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object) return (null, "'event-data' is not an object.");
        var id = Str(data, "id");
        if (string.IsNullOrEmpty(id)) return (null, "'event-data.id' is missing or not a string.");
        var eventType = Str(data, "event");
        if (string.IsNullOrEmpty(eventType)) return (null, "'event-data.event' is missing or not a string.");
        if (!data.TryGetProperty("timestamp", out var tsEl) || !TryReadEpoch(tsEl, out var timestamp))
            return (null, "'event-data.timestamp' is missing or not epoch seconds.");

        var severityText = Str(data, "severity");
        MailgunSeverity? severity = severityText switch
        {
            null => null,
            "permanent" => MailgunSeverity.Permanent,
            "temporary" => MailgunSeverity.Temporary,
            _ => MailgunSeverity.Other,
        };

        string? messageId = null;
        var isTestMode = false;
        if (Obj(data, "message") is { } message && Obj(message, "headers") is { } headers && Str(headers, "message-id") is { } mid)
            messageId = MailgunClient.StripAngleBrackets(mid);
        if (Obj(data, "flags") is { } flags && flags.TryGetProperty("is-test-mode", out var tm))
            isTestMode = tm.ValueKind == JsonValueKind.True;

        return (new MailgunEvent
        {
            Id = id,
            EventType = eventType,
            Type = ParseEventType(eventType),
            Timestamp = timestamp,
            Recipient = Str(data, "recipient"),
            RecipientDomain = Str(data, "recipient-domain"),
            Severity = severity,
            SeverityText = severityText,
            Reason = Str(data, "reason"),
            DeliveryStatus = ReadDeliveryStatus(data),
            MessageId = messageId,
            UserVariables = ReadVariables(data),
            Tags = ReadTags(data),
            Url = Str(data, "url"),
            ClientInfo = ReadClientInfo(data),
            LogLevel = Str(data, "log-level"),
            IsTestMode = isTestMode,
        }, null);
    }

    private static bool TryReadEpoch(JsonElement el, out DateTimeOffset value)
    {
        value = default;
        decimal seconds;
        if (el.ValueKind == JsonValueKind.Number)
        {
            if (!el.TryGetDecimal(out seconds)) return false;
        }
        else if (el.ValueKind == JsonValueKind.String)
        {
            if (!decimal.TryParse(el.GetString(), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out seconds))
                return false;
        }
        else return false;
        if (seconds < 0 || seconds > 253402300799m) return false;
        value = DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        return true;
    }

    private static MailgunDeliveryStatus? ReadDeliveryStatus(JsonElement data)
    {
        if (Obj(data, "delivery-status") is not { } ds) return null;
        return new MailgunDeliveryStatus(
            Int(ds, "code"), Str(ds, "message"), Str(ds, "description"), Int(ds, "attempt-no"),
            NullIfEmpty(Str(ds, "enhanced-code")), Int(ds, "retry-seconds"));
    }

    private static IReadOnlyDictionary<string, string> ReadVariables(JsonElement data)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Obj(data, "user-variables") is { } vars)
            foreach (var p in vars.EnumerateObject())
                result[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        return result;
    }

    private static IReadOnlyList<string> ReadTags(JsonElement data)
    {
        if (!data.TryGetProperty("tags", out var tags) || tags.ValueKind != JsonValueKind.Array) return [];
        var result = new List<string>();
        foreach (var t in tags.EnumerateArray())
            if (t.ValueKind == JsonValueKind.String) result.Add(t.GetString()!);
        return result;
    }

    private static MailgunClientInfo? ReadClientInfo(JsonElement data)
    {
        var ip = Str(data, "ip");
        var ci = Obj(data, "client-info");
        if (ip is null && ci is null) return null;
        return ci is { } c
            ? new MailgunClientInfo(ip, Str(c, "user-agent"), Str(c, "client-name"), Str(c, "client-type"), Str(c, "client-os"), Str(c, "device-type"))
            : new MailgunClientInfo(ip, null, null, null, null, null);
    }

    private static JsonElement? Obj(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var el) && el.ValueKind == JsonValueKind.Object ? el : null;

    private static string? Str(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var el) && el.ValueKind == JsonValueKind.String ? el.GetString() : null;

    /// <summary>A string, or the raw text of a number (Mailgun sends the signature timestamp as a string; tolerate a number).</summary>
    private static string? ScalarText(JsonElement parent, string name) =>
        !parent.TryGetProperty(name, out var el) ? null
        : el.ValueKind == JsonValueKind.String ? el.GetString()
        : el.ValueKind == JsonValueKind.Number ? el.GetRawText()
        : null;

    private static int? Int(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var el)) return null;
        if (el.ValueKind == JsonValueKind.Number && el.TryGetInt32(out var i)) return i;
        if (el.ValueKind == JsonValueKind.String && int.TryParse(el.GetString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out i)) return i;
        return null;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using AkkaMail.Mailgun;

namespace AkkaMail.MailgunFake;

/// <summary>Builds webhook bodies shaped like Mailgun's (see the samples in /work/shared/mailgun-samples).</summary>
public static class FakeMailgunEvents
{
    /// <summary>Mailgun writes JSON without HTML-escaping (&lt; stays &lt;, not \u003C).</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Signed body <c>{"signature": {...}, "event-data": {...}}</c> and the event id.</summary>
    public static (byte[] Body, string EventId) BuildWebhook(FakeSentMessage message, string recipient, FakeWebhookEvent evt, string signingKey, DateTimeOffset now)
    {
        var data = BuildEventData(message, recipient, evt, now);
        return (SignWebhook(data, signingKey, now), (string)data["id"]!);
    }

    /// <summary>Signed body <c>{"signature": {...}, "event-data": data}</c> for an event already built (a fresh token).</summary>
    public static byte[] SignWebhook(JsonObject eventData, string signingKey, DateTimeOffset now)
    {
        var data = (JsonObject)eventData.DeepClone();
        var timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(25)); // 50 hex chars, like Mailgun's
        var root = new JsonObject
        {
            ["signature"] = new JsonObject
            {
                ["token"] = token,
                ["timestamp"] = timestamp,
                ["signature"] = MailgunWebhookVerifier.ComputeSignature(signingKey, timestamp, token),
            },
            ["event-data"] = data,
        };
        return System.Text.Encoding.UTF8.GetBytes(root.ToJsonString(Json));
    }

    public static JsonObject BuildEventData(FakeSentMessage message, string recipient, FakeWebhookEvent evt, DateTimeOffset now)
    {
        var domain = recipient.Contains('@') ? recipient[(recipient.LastIndexOf('@') + 1)..] : "";
        var failed = evt.EventType == "failed";
        var data = new JsonObject
        {
            ["id"] = NewEventId(),
            ["timestamp"] = Math.Round(now.ToUnixTimeMilliseconds() / 1000.0 + Random.Shared.Next(0, 1000) / 1_000_000.0, 6),
            ["log-level"] = failed ? (evt.Severity == "permanent" ? "error" : "warn") : evt.EventType == "complained" ? "warn" : "info",
            ["event"] = evt.EventType,
        };
        if (evt.Severity is not null) data["severity"] = evt.Severity;
        if (evt.Reason is not null) data["reason"] = evt.Reason;
        if (evt.EventType is "delivered" or "failed")
        {
            var ds = new JsonObject
            {
                ["tls"] = true,
                ["mx-host"] = "mx." + domain,
                ["attempt-no"] = 1,
                ["code"] = evt.Code ?? (failed ? 550 : 250),
                ["message"] = evt.Message ?? (failed ? "" : "OK"),
                ["description"] = evt.Description ?? "",
                ["session-seconds"] = 0.4331989288330078,
                ["utf8"] = true,
                ["certificate-verified"] = true,
            };
            if (evt.EnhancedCode is not null) ds["enhanced-code"] = evt.EnhancedCode;
            if (evt.Severity == "temporary") ds["retry-seconds"] = 600;
            data["delivery-status"] = ds;
        }
        data["flags"] = new JsonObject
        {
            ["is-routed"] = false,
            ["is-authenticated"] = true,
            ["is-system-test"] = false,
            ["is-test-mode"] = message.Options.TryGetValue("testmode", out var tm) && tm is "yes" or "true" or "True",
        };
        if (evt.EventType is "accepted" or "delivered" or "failed")
        {
            data["envelope"] = new JsonObject
            {
                ["transport"] = "smtp",
                ["sender"] = FakeAddress.Bare(message.From) ?? message.From,
                ["sending-ip"] = "127.0.0.1",
                ["targets"] = recipient,
            };
        }
        if (evt.EventType == "accepted") data["method"] = "HTTP";
        var headers = new JsonObject
        {
            ["to"] = string.Join(", ", message.To),
            ["message-id"] = message.MessageId,
            ["from"] = message.From,
            ["subject"] = message.Subject ?? "",
        };
        data["message"] = evt.EventType is "opened" or "clicked" or "unsubscribed"
            ? new JsonObject { ["headers"] = new JsonObject { ["message-id"] = message.MessageId } }
            : new JsonObject { ["headers"] = headers, ["attachments"] = new JsonArray(message.Attachments.Select(a => (JsonNode)new JsonObject
                {
                    ["filename"] = a.FileName, ["content-type"] = a.ContentType, ["size"] = a.Content.Length,
                }).ToArray()), ["size"] = message.Size };
        data["recipient"] = recipient;
        data["recipient-domain"] = domain;
        if (evt.EventType is "opened" or "clicked" or "unsubscribed")
        {
            data["ip"] = "50.56.129.169";
            data["geolocation"] = new JsonObject { ["country"] = "US", ["region"] = "CA", ["city"] = "San Francisco" };
            data["client-info"] = new JsonObject
            {
                ["client-os"] = "Linux",
                ["device-type"] = "desktop",
                ["client-name"] = "Chrome",
                ["client-type"] = "browser",
                ["user-agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            };
        }
        if (evt.EventType == "clicked") data["url"] = evt.Url ?? "https://example.com/";
        data["storage"] = new JsonObject
        {
            ["url"] = $"https://storage.api.mailgun.net/v3/domains/{message.MessageId[(message.MessageId.LastIndexOf('@') + 1)..]}/messages/fake-key",
            ["key"] = "fake-key",
        };
        data["campaigns"] = new JsonArray();
        data["tags"] = new JsonArray(message.Tags.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        var vars = new JsonObject();
        foreach (var (k, v) in message.Variables) vars[k] = v;
        data["user-variables"] = vars;
        return data;
    }

    /// <summary>22 url-safe characters, like Mailgun's event ids.</summary>
    public static string NewEventId() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// The JSON body of an outbound webhook, in Standard Webhooks' shape: <c>type</c>, <c>timestamp</c> and <c>data</c>.
/// For an email's change, <c>data</c> holds the change's stable <c>eventId</c> (the <c>webhook-id</c> header too), the
/// <c>emailId</c>, the email's <c>status</c> after the change, the <c>recipient</c> a provider event concerns, when it was
/// recorded (<c>at</c>), the email's <c>version</c> (keep the highest per email) and its <c>tags</c>.
/// </summary>
public sealed record WebhookPayload(string Type, DateTimeOffset Timestamp, WebhookPayload.EmailChange Data)
{
    public sealed record EmailChange(
        string EventId, string EmailId, string Type, string Status, string? Recipient, DateTimeOffset At, long Version,
        IReadOnlyList<string> Tags);

    public const string PingType = "ping";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The stable id of an email's change: its email and sequence number in the journal.</summary>
    public static string EventIdOf(string emailId, long sequenceNr) => $"evt_{emailId}_{sequenceNr}";

    /// <summary>A test ping's body: <c>{"type":"ping","timestamp":…,"data":{"endpointId":…}}</c>.</summary>
    public static string Ping(string endpointId, DateTimeOffset at) =>
        JsonSerializer.Serialize(new { type = PingType, timestamp = at, data = new { endpointId } }, Json);
}

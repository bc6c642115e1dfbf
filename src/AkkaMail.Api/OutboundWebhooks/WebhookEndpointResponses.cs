using AkkaMail.OutboundWebhooks;

namespace AkkaMail.Api.OutboundWebhooks;

/// <summary>The body of POST and PUT /api/webhooks/endpoints: a field left out of a PUT keeps its value.</summary>
/// <param name="EventTypes">The timeline's event names wanted (<c>delivered</c>, <c>permanent_failure</c>…); empty or absent: all.</param>
/// <param name="Tags">Only emails carrying one of these tags; empty or absent: every email.</param>
public sealed record WebhookEndpointRequest(string? Url, string[]? EventTypes, string[]? Tags, bool? Enabled, string? Description);

/// <summary>The body of POST /api/webhooks/endpoints/{id}/redeliver: deliveries created in [from, to).</summary>
public sealed record RedeliverRequest(DateTimeOffset? From, DateTimeOffset? To);

/// <summary>An endpoint, without its secret (shown once, at creation and at each rotation).</summary>
/// <param name="ConsecutiveFailures">Deliveries given up in a row; at the stated run the endpoint is disabled.</param>
/// <param name="PreviousSecretExpiresAt">After a rotation, until when the previous secret still signs.</param>
public sealed record WebhookEndpointResponse(
    string Id, string Url, IReadOnlyList<string> EventTypes, IReadOnlyList<string> Tags, bool Enabled, string? DisabledReason,
    string? Description, int ConsecutiveFailures, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? PreviousSecretExpiresAt)
{
    public static WebhookEndpointResponse Of(WebhookEndpoint e, DateTimeOffset now) => new(
        e.Id, e.Url, e.EventTypes, e.Tags, e.Enabled, e.DisabledReason, e.Description, e.ConsecutiveFailures, e.CreatedAt, e.UpdatedAt,
        e.SigningSecrets(now).Where(s => s.ExpiresAt is not null).Max(s => s.ExpiresAt));
}

/// <summary>A new endpoint and its signing secret (<c>whsec_…</c>), shown this once.</summary>
public sealed record CreatedWebhookEndpointResponse(
    string Id, string Url, IReadOnlyList<string> EventTypes, IReadOnlyList<string> Tags, bool Enabled, string? Description,
    DateTimeOffset CreatedAt, string Secret);

public sealed record WebhookEndpointListResponse(IReadOnlyList<WebhookEndpointResponse> Items);

/// <summary>The new secret, shown this once; the previous one keeps signing until <c>previousSecretExpiresAt</c>.</summary>
public sealed record RotatedSecretResponse(string Secret, DateTimeOffset? PreviousSecretExpiresAt);

/// <summary>One delivery in the log.</summary>
/// <param name="Status"><c>pending</c>, <c>succeeded</c> or <c>failed</c> (given up, or stopped by the endpoint's answer).</param>
/// <param name="NextAttemptAt">When a pending delivery is next attempted (null once it is done).</param>
/// <param name="LastResponse">The start of the endpoint's last answer (at most the stated bytes).</param>
public sealed record WebhookDeliveryResponse(
    string Id, string EventId, string EventType, string? EmailId, string Status, int Attempts, DateTimeOffset CreatedAt,
    DateTimeOffset? LastAttemptAt, DateTimeOffset? NextAttemptAt, int? LastStatusCode, string? LastResponse, string? LastError)
{
    public static WebhookDeliveryResponse Of(WebhookDelivery d) => new(
        d.Id, d.EventId, d.EventType, d.EmailId.StartsWith(WebhookEndpointEndpoints.PingGroupPrefix, StringComparison.Ordinal) ? null : d.EmailId,
        d.Status.ToString().ToLowerInvariant(), d.Attempts, d.CreatedAt, d.LastAttemptAt,
        d.Status == WebhookDeliveryStatus.Pending ? d.NextAttemptAt : null, d.LastStatusCode, d.LastResponse, d.LastError);
}

/// <summary>A page of the delivery log, newest first; <c>nextCursor</c> fetches the next page (null on the last).</summary>
public sealed record WebhookDeliveryListResponse(IReadOnlyList<WebhookDeliveryResponse> Items, string? NextCursor);

/// <summary>How many deliveries were made pending again.</summary>
public sealed record RedeliveryResponse(int Requeued);

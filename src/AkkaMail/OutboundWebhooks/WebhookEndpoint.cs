namespace AkkaMail.OutboundWebhooks;

/// <summary>A signing secret as stored: encrypted (<see cref="WebhookSecretProtector"/>), never in clear; a rotated-out
/// secret keeps signing until <see cref="ExpiresAt"/> (null: the current secret).</summary>
public sealed record WebhookSecret(string Protected, DateTimeOffset? ExpiresAt);

/// <summary>
/// A user's endpoint for outbound webhooks: where to POST, which event types (the timeline's names of
/// <see cref="Domain.EmailEventTypes"/>; empty = all) of which emails (any of <see cref="Tags"/>; empty = every email).
/// </summary>
/// <param name="ConsecutiveFailures">Deliveries given up in a row (any success resets it); the endpoint is disabled
/// when it reaches the stated run.</param>
public sealed record WebhookEndpoint(
    string Id,
    string UserId,
    string Url,
    IReadOnlyList<string> EventTypes,
    IReadOnlyList<string> Tags,
    bool Enabled,
    string? DisabledReason,
    IReadOnlyList<WebhookSecret> Secrets,
    int ConsecutiveFailures,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? Description = null)
{
    /// <summary>Whether a change of type <paramref name="eventType"/> of an email tagged <paramref name="emailTags"/> goes here.</summary>
    public bool Wants(string eventType, IReadOnlyList<string> emailTags) =>
        Enabled
        && (EventTypes.Count == 0 || EventTypes.Contains(eventType, StringComparer.Ordinal))
        && (Tags.Count == 0 || emailTags.Any(t => Tags.Contains(t, StringComparer.Ordinal)));

    /// <summary>The secrets that sign at <paramref name="now"/>: the current one, and a rotated-out one within its overlap.</summary>
    public IEnumerable<WebhookSecret> SigningSecrets(DateTimeOffset now) => Secrets.Where(s => s.ExpiresAt is null || s.ExpiresAt > now);

    public static string NewId() => "whe_" + Guid.NewGuid().ToString("N");
}

public enum WebhookDeliveryStatus { Pending, Succeeded, Failed }

/// <summary>
/// One change of one email for one endpoint, made durable by the projection before anything is sent. Its id is stable
/// (endpoint, email, the event's sequence number), so a batch projected twice stores it once. Deliveries of one email
/// to one endpoint go out in <see cref="Ordering"/> (the journal's order): a later one waits while an earlier one is pending.
/// </summary>
/// <param name="EventId">The change's stable id (the <c>webhook-id</c> header, the same on every retry).</param>
/// <param name="Payload">The JSON body, fixed when projected, so every attempt and redelivery sends the same bytes.</param>
public sealed record WebhookDelivery(
    string Id,
    string EndpointId,
    string EmailId,
    long Ordering,
    string EventId,
    string EventType,
    string Payload,
    DateTimeOffset CreatedAt)
{
    public WebhookDeliveryStatus Status { get; init; } = WebhookDeliveryStatus.Pending;
    public int Attempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; } = CreatedAt;
    /// <summary>When the current series of attempts began: the retry window is counted from here.</summary>
    public DateTimeOffset? FirstAttemptAt { get; init; }
    public DateTimeOffset? LastAttemptAt { get; init; }
    public int? LastStatusCode { get; init; }
    /// <summary>The last answer's body (capped) or the error, never a secret.</summary>
    public string? LastResponse { get; init; }
    public string? LastError { get; init; }

    public static string IdFor(string endpointId, string emailId, long sequenceNr) => $"{endpointId}.{emailId}.{sequenceNr}";
}

/// <summary>Endpoints, per user. Secrets arrive and leave encrypted.</summary>
public interface IWebhookEndpointStore
{
    Task InitializeAsync(CancellationToken ct = default);
    Task CreateAsync(WebhookEndpoint endpoint, CancellationToken ct = default);
    Task<WebhookEndpoint?> GetAsync(string id, CancellationToken ct = default);
    /// <summary>A user's endpoints (null: every user's), oldest first.</summary>
    Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string? userId, CancellationToken ct = default);
    /// <summary>Replaces an existing endpoint; false when there is none.</summary>
    Task<bool> UpdateAsync(WebhookEndpoint endpoint, CancellationToken ct = default);
    Task<bool> DeleteAsync(string id, CancellationToken ct = default);
    /// <summary>
    /// Counts a delivery that succeeded (the run of failures ends) or was given up (the run grows); a run reaching
    /// <paramref name="disableAfter"/> disables the endpoint with <paramref name="reason"/>, atomically. True when this
    /// call disabled it.
    /// </summary>
    Task<bool> RecordResultAsync(string id, bool succeeded, int disableAfter, string reason, DateTimeOffset now, CancellationToken ct = default);
}

/// <summary>Deliveries: written by the projection (with its offset), worked by the delivery worker, read by the log.</summary>
public interface IWebhookDeliveryStore
{
    Task InitializeAsync(CancellationToken ct = default);
    Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default);
    /// <summary>Adds the deliveries not already there (by id) and stores the offset. SQLite: one transaction;
    /// MongoDB: idempotent inserts, then the offset.</summary>
    Task StoreAsync(string projection, IReadOnlyCollection<WebhookDelivery> deliveries, long offset, CancellationToken ct = default);
    /// <summary>Adds one delivery outside the journal's flow (a test ping).</summary>
    Task AddAsync(WebhookDelivery delivery, CancellationToken ct = default);
    /// <summary>
    /// An endpoint's deliveries that may go now: pending, due by <paramref name="now"/>, and each the first pending one
    /// of its email (by ordering), so that one email's changes never overtake each other. In ordering, at most
    /// <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<WebhookDelivery>> DueAsync(string endpointId, DateTimeOffset now, int limit, CancellationToken ct = default);
    /// <summary>Stores the outcome of an attempt (status, attempts, times, last answer).</summary>
    Task SaveAttemptAsync(WebhookDelivery delivery, CancellationToken ct = default);
    Task<WebhookDelivery?> GetAsync(string endpointId, string id, CancellationToken ct = default);
    /// <summary>An endpoint's deliveries, newest first (created, then id); <paramref name="after"/> is the last id of the page before.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListAsync(string endpointId, int limit, string? after, CancellationToken ct = default);
    /// <summary>Makes deliveries pending again, due now, with a new series of attempts: one (<paramref name="deliveryId"/>),
    /// or those created in [<paramref name="from"/>, <paramref name="to"/>). Returns how many.</summary>
    Task<int> RequeueAsync(string endpointId, string? deliveryId, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now,
        CancellationToken ct = default);
    /// <summary>Deletes the deliveries that are done (succeeded or failed) and were created before <paramref name="before"/>;
    /// pending ones stay whatever their age. Returns how many.</summary>
    Task<long> PruneAsync(DateTimeOffset before, CancellationToken ct = default);
    /// <summary>Erasure: deletes every delivery (pending or done) about these emails; their payloads name the addresses.
    /// Returns how many.</summary>
    Task<long> DeleteForEmailsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default);
}

using Akka.Persistence.Query;
using AkkaMail.Domain;
using AkkaMail.Projections;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Turns the journal's email changes into durable deliveries, one per change and endpoint that wants it, stored with
/// the projection's offset: a crash loses none (the batch comes again from the stored offset) and stores none twice
/// (stable ids). Each email's state is folded with the same pure <see cref="EmailState.Apply"/> the email actor
/// recovers with (cached, bounded; an email not cached is folded from its events in the journal), so a delivery
/// carries the email's status and version after its change. Endpoints are matched as they are when the change is
/// projected; while no endpoint is enabled, a batch costs only its offset.
/// </summary>
public sealed class WebhookDeliveryProjection(
    IWebhookDeliveryStore store,
    WebhookEndpointCache endpoints,
    Func<string, long, Task<IReadOnlyList<object>>> eventsUpTo,
    TimeProvider clock,
    int cachedStates = 10_000,
    Action? stored = null,
    Func<CancellationToken, Task<long>>? journalHead = null) : IProjectionHandler
{
    public const string Name = "outbound-webhooks";

    /// <summary>While batches make no delivery, their offset is stored at most this often: a crash replays at most
    /// this much of the journal, which made no delivery then.</summary>
    public static readonly TimeSpan IdleOffsetInterval = TimeSpan.FromSeconds(1);

    private readonly ReadModel.EmailStateCache _states = new(eventsUpTo, cachedStates);
    private DateTimeOffset _idleOffsetStoredAt = DateTimeOffset.MinValue;

    /// <summary>
    /// The stored offset; on the very first start with no endpoint at all, the journal's head: nothing before it can
    /// match an endpoint, so the journal written before this feature existed is not read.
    /// </summary>
    public async Task<long> LoadOffsetAsync(CancellationToken ct)
    {
        var offset = await store.LoadOffsetAsync(Name, ct);
        if (offset > 0 || journalHead is null || (await endpoints.AllAsync(ct)).Count > 0) return offset;
        var head = await journalHead(ct);
        if (head > 0) await store.StoreAsync(Name, Array.Empty<WebhookDelivery>(), head, ct);
        return head;
    }

    public async Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct)
    {
        var enabled = (await endpoints.AllAsync(ct)).Where(e => e.Enabled).ToList();
        if (enabled.Count == 0)
        {
            // Nothing to deliver: no fold, and the offset only now and then (one write fewer per batch while mail flows).
            var at = clock.GetUtcNow();
            if (at - _idleOffsetStoredAt >= IdleOffsetInterval)
            {
                await store.StoreAsync(Name, Array.Empty<WebhookDelivery>(), offset, ct);
                _idleOffsetStoredAt = at;
            }
            return;
        }
        var byUser = enabled.ToLookup(e => e.UserId, StringComparer.Ordinal);
        var touched = new Dictionary<string, EmailState>(StringComparer.Ordinal);
        var deliveries = new List<WebhookDelivery>();
        var now = clock.GetUtcNow();
        foreach (var envelope in batch)
        {
            if (envelope.Event is not IEmailEvent evt) continue;
            var id = evt.EmailId;
            if (!touched.TryGetValue(id, out var state) && !_states.TryGet(id, out state!)) state = null;
            if (state is null || state.Version < envelope.SequenceNr - 1)
                state = await _states.FoldAsync(envelope.PersistenceId, id, envelope.SequenceNr - 1);
            if (state.Version >= envelope.SequenceNr) continue;
            state = state.Apply(evt);
            touched[id] = state;
            if (state.UserId is not { } userId || !byUser.Contains(userId)) continue;
            var type = EmailEventTypes.Of(evt);
            var tags = state.Content?.Tags ?? Array.Empty<string>();
            string? payload = null;
            foreach (var endpoint in byUser[userId])
            {
                if (!endpoint.Wants(type, tags)) continue;
                var eventId = WebhookPayload.EventIdOf(id, envelope.SequenceNr);
                payload ??= new WebhookPayload(type, now, new WebhookPayload.EmailChange(eventId, id, type, state.Status.ToWire(),
                    (evt as EmailEvents.ProviderEventRecorded)?.Event.Recipient, evt.At, state.Version, tags)).ToJson();
                deliveries.Add(new WebhookDelivery(WebhookDelivery.IdFor(endpoint.Id, id, envelope.SequenceNr), endpoint.Id, id,
                    ProjectionStream.OrderingOf(envelope), eventId, type, payload, now));
            }
        }
        await store.StoreAsync(Name, deliveries, offset, ct);
        // Only once stored: after a failure the batch comes again and must find the states as they were before it.
        foreach (var (id, state) in touched) _states.Remember(id, state);
        if (deliveries.Count > 0) stored?.Invoke();
    }
}

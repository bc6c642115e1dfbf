using Akka.Persistence.Query;
using AkkaMail.Domain;
using AkkaMail.OutboundWebhooks;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Tests;

/// <summary>The outbound webhooks projection on in-memory stores: which changes become deliveries, with what, and once.</summary>
public class WebhookDeliveryProjectionTests
{
    private static readonly DateTimeOffset T0 = T.T0;

    private sealed class MemoryStores : IWebhookEndpointStore, IWebhookDeliveryStore
    {
        public readonly List<WebhookEndpoint> Endpoints = new();
        public readonly Dictionary<string, WebhookDelivery> Deliveries = new();
        public long Offset;
        public int OffsetWrites;

        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task CreateAsync(WebhookEndpoint endpoint, CancellationToken ct = default) { Endpoints.Add(endpoint); return Task.CompletedTask; }
        public Task<WebhookEndpoint?> GetAsync(string id, CancellationToken ct = default) => Task.FromResult(Endpoints.FirstOrDefault(e => e.Id == id));
        public Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string? userId, CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<WebhookEndpoint>>(Endpoints.Where(e => userId is null || e.UserId == userId).ToList());
        public Task<bool> UpdateAsync(WebhookEndpoint endpoint, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<bool> DeleteAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<bool> RecordResultAsync(string id, bool succeeded, int disableAfter, string reason, DateTimeOffset now, CancellationToken ct = default) =>
            throw new NotSupportedException();
        public Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default) => Task.FromResult(Offset);
        public Task StoreAsync(string projection, IReadOnlyCollection<WebhookDelivery> deliveries, long offset, CancellationToken ct = default)
        {
            foreach (var d in deliveries) Deliveries.TryAdd(d.Id, d);
            Offset = offset;
            OffsetWrites++;
            return Task.CompletedTask;
        }
        public Task AddAsync(WebhookDelivery delivery, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<WebhookDelivery>> DueAsync(string endpointId, DateTimeOffset now, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task SaveAttemptAsync(WebhookDelivery delivery, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<WebhookDelivery?> GetAsync(string endpointId, string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<WebhookDelivery>> ListAsync(string endpointId, int limit, string? after, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<int> RequeueAsync(string endpointId, string? deliveryId, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now, CancellationToken ct = default) =>
            throw new NotSupportedException();
        public Task<long> PruneAsync(DateTimeOffset before, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<long> DeleteForEmailsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default) => throw new NotSupportedException();
    }

    private static WebhookEndpoint Endpoint(string id, string user, string[] types, string[] tags, bool enabled = true) =>
        new(id, user, "https://hooks.example.com/", types, tags, enabled, null, [], 0, T0, T0);

    /// <summary>One email's life (accepted → sent → delivered) as journal envelopes from <paramref name="ordering"/>.</summary>
    private static List<EventEnvelope> Life(string emailId, string user, long ordering, string[] tags)
    {
        var content = T.Content("rcpt@example.com") with { Tags = tags };
        IEmailEvent[] events =
        [
            new EmailAccepted(emailId, user, content, T0),
            new EmailDispatched(emailId, 1, T0.AddSeconds(1)),
            new SendAttemptStarted(emailId, 1, T0.AddSeconds(2)),
            new EmailSent(emailId, 1, "pmid-" + emailId, T0.AddSeconds(3)),
            new ProviderEventRecorded(emailId, new ProviderEvent("ev-" + emailId, ProviderEventKind.Delivered, "rcpt@example.com", T0.AddSeconds(4), "pmid-" + emailId), T0.AddSeconds(4)),
        ];
        return events.Select((e, i) => new EventEnvelope(Offset.Sequence(ordering + i), "email-" + emailId, i + 1, e, ordering + i, Array.Empty<string>())).ToList();
    }

    private static (WebhookDeliveryProjection Projection, MemoryStores Stores, FakeTimeProvider Clock) New(Func<string, long, List<EventEnvelope>>? journal = null,
        long head = 0)
    {
        var stores = new MemoryStores();
        var clock = new FakeTimeProvider(T0);
        var cache = new WebhookEndpointCache(stores, clock, TimeSpan.Zero);
        var projection = new WebhookDeliveryProjection(stores, cache,
            (pid, to) => Task.FromResult<IReadOnlyList<object>>((journal?.Invoke(pid, to) ?? []).Where(e => e.SequenceNr <= to).Select(e => e.Event).ToList()),
            clock, journalHead: _ => Task.FromResult(head));
        return (projection, stores, clock);
    }

    [Fact]
    public async Task Each_wanted_change_of_an_endpoint_s_user_becomes_one_delivery_with_its_status_and_version()
    {
        var (projection, stores, _) = New();
        stores.Endpoints.Add(Endpoint("whe_all", "u1", [], []));
        stores.Endpoints.Add(Endpoint("whe_delivered_receipts", "u1", ["delivered"], ["receipt"]));
        stores.Endpoints.Add(Endpoint("whe_other_user", "u2", [], []));
        stores.Endpoints.Add(Endpoint("whe_disabled", "u1", [], [], enabled: false));
        var batch = Life("e1", "u1", 1, ["receipt"]).Concat(Life("e2", "u1", 6, ["other"])).ToList();
        await projection.HandleAsync(batch, 10, default);

        Assert.Equal(10, stores.Offset);
        Assert.Equal(10, stores.Deliveries.Values.Count(d => d.EndpointId == "whe_all"));
        var receipt = Assert.Single(stores.Deliveries.Values, d => d.EndpointId == "whe_delivered_receipts");
        Assert.Equal(("e1", "delivered", 5L, "evt_e1_5"), (receipt.EmailId, receipt.EventType, receipt.Ordering, receipt.EventId));
        var data = System.Text.Json.Nodes.JsonNode.Parse(receipt.Payload)!["data"]!;
        Assert.Equal("delivered", data["status"]!.GetValue<string>());
        Assert.Equal(5, data["version"]!.GetValue<long>());
        Assert.Equal("rcpt@example.com", data["recipient"]!.GetValue<string>());
        Assert.DoesNotContain(stores.Deliveries.Values, d => d.EndpointId is "whe_other_user" or "whe_disabled");
        Assert.Equal(["accepted", "dispatched", "sending", "sent", "delivered"],
            stores.Deliveries.Values.Where(d => d.EndpointId == "whe_all" && d.EmailId == "e1").OrderBy(d => d.Ordering).Select(d => d.EventType));

        // The same batch again (a crash before its offset): nothing new, nothing changed.
        var before = stores.Deliveries.ToDictionary(kv => kv.Key, kv => kv.Value);
        await projection.HandleAsync(batch, 10, default);
        Assert.Equal(before, stores.Deliveries);
    }

    [Fact]
    public async Task An_email_not_in_memory_is_folded_from_the_journal_before_its_change()
    {
        var life = Life("e1", "u1", 1, []);
        var (projection, stores, _) = New(journal: (_, _) => life);
        stores.Endpoints.Add(Endpoint("whe", "u1", ["delivered"], []));
        await projection.HandleAsync(life.Skip(4).ToList(), 5, default); // only the last change: a restart mid-life
        var d = Assert.Single(stores.Deliveries.Values);
        Assert.Equal(5, System.Text.Json.Nodes.JsonNode.Parse(d.Payload)!["data"]!["version"]!.GetValue<long>());
    }

    [Fact]
    public async Task Without_endpoints_the_first_start_begins_at_the_head_and_batches_store_their_offset_only_now_and_then()
    {
        var (projection, stores, clock) = New(head: 42);
        Assert.Equal(42, await projection.LoadOffsetAsync(default));
        Assert.Equal(42, stores.Offset);
        var writes = stores.OffsetWrites;
        await projection.HandleAsync(Life("e1", "u1", 43, []), 47, default);
        await projection.HandleAsync(Life("e2", "u1", 48, []), 52, default);
        Assert.Equal(writes + 1, stores.OffsetWrites);
        clock.Advance(WebhookDeliveryProjection.IdleOffsetInterval);
        await projection.HandleAsync(Life("e3", "u1", 53, []), 57, default);
        Assert.Equal((writes + 2, 57L), (stores.OffsetWrites, stores.Offset));
        Assert.Empty(stores.Deliveries);

        // A stored offset (or an endpoint) means the journal is read from there.
        var (again, againStores, _) = New(head: 42);
        againStores.Endpoints.Add(Endpoint("whe", "u1", [], []));
        Assert.Equal(0, await again.LoadOffsetAsync(default));
    }
}

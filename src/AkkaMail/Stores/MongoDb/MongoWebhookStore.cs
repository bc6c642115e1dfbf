using AkkaMail.OutboundWebhooks;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Outbound webhook endpoints (collection <c>webhook_endpoints</c>) and deliveries (<c>webhook_deliveries</c>,
/// <c>_id</c> = the delivery's stable id, so a batch projected twice inserts nothing new); the projection's offset in
/// <c>projection_offsets</c>, written after its deliveries. Secrets are stored as the protector encrypted them.
/// </summary>
public sealed class MongoWebhookStore(IMongoDatabase database) : IWebhookEndpointStore, IWebhookDeliveryStore
{
    public const string EndpointsCollection = "webhook_endpoints";
    public const string DeliveriesCollection = "webhook_deliveries";

    private readonly IMongoCollection<BsonDocument> _endpoints = database.GetCollection<BsonDocument>(EndpointsCollection);
    private readonly IMongoCollection<BsonDocument> _deliveries = database.GetCollection<BsonDocument>(DeliveriesCollection);
    private IMongoCollection<BsonDocument> Offsets => database.GetCollection<BsonDocument>(MongoEmailReadStore.OffsetsCollection);
    private readonly AsyncOnce _init = new();

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        await _endpoints.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(
            new BsonDocument { { "UserId", 1 }, { "CreatedAt", 1 }, { "_id", 1 } }, new CreateIndexOptions { Name = "UserId_CreatedAt" }),
            cancellationToken: ct);
        await _deliveries.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>(new BsonDocument { { "EndpointId", 1 }, { "Status", 1 }, { "Ordering", 1 }, { "_id", 1 } },
                new CreateIndexOptions { Name = "EndpointId_Status_Ordering" }),
            new CreateIndexModel<BsonDocument>(new BsonDocument { { "EndpointId", 1 }, { "CreatedAt", -1 }, { "_id", -1 } },
                new CreateIndexOptions { Name = "EndpointId_CreatedAt" }),
        ], ct);
    }

    // ---- endpoints ----

    private static BsonDocument ToBson(WebhookEndpoint e) => new()
    {
        { "_id", e.Id }, { "UserId", e.UserId }, { "Url", e.Url },
        { "EventTypes", new BsonArray(e.EventTypes) }, { "Tags", new BsonArray(e.Tags) },
        { "Enabled", e.Enabled }, { "DisabledReason", e.DisabledReason is null ? BsonNull.Value : e.DisabledReason },
        { "Secrets", new BsonArray(e.Secrets.Select(s => new BsonDocument { { "Protected", s.Protected }, { "ExpiresAt", EmailDocumentMapper.Date(s.ExpiresAt) } })) },
        { "ConsecutiveFailures", e.ConsecutiveFailures },
        { "CreatedAt", EmailDocumentMapper.Date(e.CreatedAt) }, { "UpdatedAt", EmailDocumentMapper.Date(e.UpdatedAt) },
        { "Description", e.Description is null ? BsonNull.Value : e.Description },
    };

    private static WebhookEndpoint EndpointOf(BsonDocument d) => new(
        d["_id"].AsString, d["UserId"].AsString, d["Url"].AsString,
        d["EventTypes"].AsBsonArray.Select(v => v.AsString).ToArray(), d["Tags"].AsBsonArray.Select(v => v.AsString).ToArray(),
        d["Enabled"].AsBoolean, d["DisabledReason"].IsBsonNull ? null : d["DisabledReason"].AsString,
        d["Secrets"].AsBsonArray.Select(v => v.AsBsonDocument)
            .Select(s => new WebhookSecret(s["Protected"].AsString, EmailDocumentMapper.ToNullableDate(s["ExpiresAt"]))).ToArray(),
        d["ConsecutiveFailures"].ToInt32(), EmailDocumentMapper.ToDate(d["CreatedAt"]), EmailDocumentMapper.ToDate(d["UpdatedAt"]),
        d.GetValue("Description", BsonNull.Value) is { IsBsonNull: false } description ? description.AsString : null);

    public async Task CreateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await _endpoints.InsertOneAsync(ToBson(endpoint), cancellationToken: ct);
    }

    async Task<WebhookEndpoint?> IWebhookEndpointStore.GetAsync(string id, CancellationToken ct)
    {
        await InitializeAsync(ct);
        var d = await _endpoints.Find(new BsonDocument("_id", id)).FirstOrDefaultAsync(ct);
        return d is null ? null : EndpointOf(d);
    }

    async Task<IReadOnlyList<WebhookEndpoint>> IWebhookEndpointStore.ListAsync(string? userId, CancellationToken ct)
    {
        await InitializeAsync(ct);
        var filter = userId is null ? new BsonDocument() : new BsonDocument("UserId", userId);
        var docs = await _endpoints.Find(filter).Sort(new BsonDocument { { "CreatedAt", 1 }, { "_id", 1 } }).ToListAsync(ct);
        return docs.Select(EndpointOf).ToList();
    }

    public async Task<bool> UpdateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        var result = await _endpoints.ReplaceOneAsync(new BsonDocument("_id", endpoint.Id), ToBson(endpoint), cancellationToken: ct);
        return result.MatchedCount == 1;
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        var deleted = await _endpoints.DeleteOneAsync(new BsonDocument("_id", id), ct);
        await _deliveries.DeleteManyAsync(new BsonDocument("EndpointId", id), ct);
        return deleted.DeletedCount == 1;
    }

    public async Task<bool> RecordResultAsync(string id, bool succeeded, int disableAfter, string reason, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        if (succeeded)
        {
            await _endpoints.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$set", new BsonDocument("ConsecutiveFailures", 0)),
                cancellationToken: ct);
            return false;
        }
        await _endpoints.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$inc", new BsonDocument("ConsecutiveFailures", 1)),
            cancellationToken: ct);
        var disabled = await _endpoints.UpdateOneAsync(
            new BsonDocument { { "_id", id }, { "Enabled", true }, { "ConsecutiveFailures", new BsonDocument("$gte", disableAfter) } },
            new BsonDocument("$set", new BsonDocument
            {
                { "Enabled", false }, { "DisabledReason", reason }, { "UpdatedAt", EmailDocumentMapper.Date(now) },
            }), cancellationToken: ct);
        return disabled.ModifiedCount == 1;
    }

    // ---- deliveries ----

    private static BsonDocument ToBson(WebhookDelivery d) => new BsonDocument
    {
        { "_id", d.Id }, { "EndpointId", d.EndpointId }, { "EmailId", d.EmailId }, { "Ordering", d.Ordering },
        { "EventId", d.EventId }, { "EventType", d.EventType }, { "Payload", d.Payload },
        { "CreatedAt", EmailDocumentMapper.Date(d.CreatedAt) },
    }.AddRange(AttemptFields(d));

    /// <summary>The document without its <c>_id</c>, for an upsert's <c>$setOnInsert</c> (the filter's <c>_id</c> is the one inserted).</summary>
    private static BsonDocument InsertFields(WebhookDelivery d)
    {
        var doc = ToBson(d);
        doc.Remove("_id");
        return doc;
    }

    private static BsonDocument AttemptFields(WebhookDelivery d) => new()
    {
        { "Status", (int)d.Status }, { "Attempts", d.Attempts }, { "NextAttemptAt", EmailDocumentMapper.Date(d.NextAttemptAt) },
        { "FirstAttemptAt", EmailDocumentMapper.Date(d.FirstAttemptAt) }, { "LastAttemptAt", EmailDocumentMapper.Date(d.LastAttemptAt) },
        { "LastStatusCode", d.LastStatusCode is { } code ? code : BsonNull.Value },
        { "LastResponse", d.LastResponse is null ? BsonNull.Value : d.LastResponse },
        { "LastError", d.LastError is null ? BsonNull.Value : d.LastError },
    };

    private static WebhookDelivery DeliveryOf(BsonDocument d) =>
        new(d["_id"].AsString, d["EndpointId"].AsString, d["EmailId"].AsString, d["Ordering"].ToInt64(), d["EventId"].AsString,
            d["EventType"].AsString, d["Payload"].AsString, EmailDocumentMapper.ToDate(d["CreatedAt"]))
        {
            Status = (WebhookDeliveryStatus)d["Status"].ToInt32(),
            Attempts = d["Attempts"].ToInt32(),
            NextAttemptAt = EmailDocumentMapper.ToDate(d["NextAttemptAt"]),
            FirstAttemptAt = EmailDocumentMapper.ToNullableDate(d["FirstAttemptAt"]),
            LastAttemptAt = EmailDocumentMapper.ToNullableDate(d["LastAttemptAt"]),
            LastStatusCode = d["LastStatusCode"].IsBsonNull ? null : d["LastStatusCode"].ToInt32(),
            LastResponse = d["LastResponse"].IsBsonNull ? null : d["LastResponse"].AsString,
            LastError = d["LastError"].IsBsonNull ? null : d["LastError"].AsString,
        };

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        var doc = await Offsets.Find(new BsonDocument("_id", projection)).FirstOrDefaultAsync(ct);
        return doc?["Offset"].ToInt64() ?? 0;
    }

    public async Task StoreAsync(string projection, IReadOnlyCollection<WebhookDelivery> deliveries, long offset, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        if (deliveries.Count > 0)
        {
            // Insert-if-absent: a delivery already there (a batch handed over again) keeps its progress.
            var writes = deliveries.Select(d => (WriteModel<BsonDocument>)new UpdateOneModel<BsonDocument>(
                new BsonDocument("_id", d.Id), new BsonDocument("$setOnInsert", InsertFields(d))) { IsUpsert = true }).ToList();
            await _deliveries.BulkWriteAsync(writes, new BulkWriteOptions { IsOrdered = false }, ct);
        }
        await Offsets.UpdateOneAsync(new BsonDocument("_id", projection),
            new BsonDocument("$set", new BsonDocument { { "Offset", offset }, { "UpdatedAt", DateTime.UtcNow } }),
            new UpdateOptions { IsUpsert = true }, ct);
    }

    public async Task AddAsync(WebhookDelivery delivery, CancellationToken ct = default) =>
        await StoreAddAsync(delivery, ct);

    private async Task StoreAddAsync(WebhookDelivery delivery, CancellationToken ct)
    {
        await InitializeAsync(ct);
        await _deliveries.UpdateOneAsync(new BsonDocument("_id", delivery.Id), new BsonDocument("$setOnInsert", InsertFields(delivery)),
            new UpdateOptions { IsUpsert = true }, ct);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> DueAsync(string endpointId, DateTimeOffset now, int limit, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        // The first pending delivery of each email (in ordering), then those of them that are due.
        var pipeline = new[]
        {
            new BsonDocument("$match", new BsonDocument { { "EndpointId", endpointId }, { "Status", (int)WebhookDeliveryStatus.Pending } }),
            new BsonDocument("$sort", new BsonDocument { { "Ordering", 1 }, { "_id", 1 } }),
            new BsonDocument("$group", new BsonDocument { { "_id", "$EmailId" }, { "Head", new BsonDocument("$first", "$$ROOT") } }),
            new BsonDocument("$replaceRoot", new BsonDocument("newRoot", "$Head")),
            new BsonDocument("$match", new BsonDocument("NextAttemptAt", new BsonDocument("$lte", EmailDocumentMapper.Date(now)))),
            new BsonDocument("$sort", new BsonDocument { { "Ordering", 1 }, { "_id", 1 } }),
            new BsonDocument("$limit", limit),
        };
        var docs = await _deliveries.Aggregate<BsonDocument>(pipeline, cancellationToken: ct).ToListAsync(ct);
        return docs.Select(DeliveryOf).ToList();
    }

    public async Task SaveAttemptAsync(WebhookDelivery delivery, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await _deliveries.UpdateOneAsync(new BsonDocument("_id", delivery.Id), new BsonDocument("$set", AttemptFields(delivery)),
            cancellationToken: ct);
    }

    async Task<WebhookDelivery?> IWebhookDeliveryStore.GetAsync(string endpointId, string id, CancellationToken ct)
    {
        await InitializeAsync(ct);
        var d = await _deliveries.Find(new BsonDocument { { "_id", id }, { "EndpointId", endpointId } }).FirstOrDefaultAsync(ct);
        return d is null ? null : DeliveryOf(d);
    }

    async Task<IReadOnlyList<WebhookDelivery>> IWebhookDeliveryStore.ListAsync(string endpointId, int limit, string? after, CancellationToken ct)
    {
        await InitializeAsync(ct);
        var filter = new BsonDocument("EndpointId", endpointId);
        if (after is not null)
        {
            var cursor = await _deliveries.Find(new BsonDocument("_id", after)).FirstOrDefaultAsync(ct);
            if (cursor is null) return [];
            filter["$or"] = new BsonArray
            {
                new BsonDocument("CreatedAt", new BsonDocument("$lt", cursor["CreatedAt"])),
                new BsonDocument { { "CreatedAt", cursor["CreatedAt"] }, { "_id", new BsonDocument("$lt", after) } },
            };
        }
        var docs = await _deliveries.Find(filter).Sort(new BsonDocument { { "CreatedAt", -1 }, { "_id", -1 } }).Limit(limit).ToListAsync(ct);
        return docs.Select(DeliveryOf).ToList();
    }

    public async Task<long> PruneAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        var result = await _deliveries.DeleteManyAsync(new BsonDocument
        {
            { "Status", new BsonDocument("$ne", (int)WebhookDeliveryStatus.Pending) },
            { "CreatedAt", new BsonDocument("$lt", EmailDocumentMapper.Date(before)) },
        }, ct);
        return result.DeletedCount;
    }

    public async Task<long> DeleteForEmailsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        if (emailIds.Count == 0) return 0;
        await InitializeAsync(ct);
        var result = await _deliveries.DeleteManyAsync(new BsonDocument("EmailId", new BsonDocument("$in", new BsonArray(emailIds))), ct);
        return result.DeletedCount;
    }

    public async Task<int> RequeueAsync(string endpointId, string? deliveryId, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        var filter = new BsonDocument("EndpointId", endpointId);
        if (deliveryId is not null) filter["_id"] = deliveryId;
        var created = new BsonDocument();
        if (from is { } f) created["$gte"] = EmailDocumentMapper.Date(f);
        if (to is { } t) created["$lt"] = EmailDocumentMapper.Date(t);
        if (created.ElementCount > 0) filter["CreatedAt"] = created;
        var result = await _deliveries.UpdateManyAsync(filter, new BsonDocument("$set", new BsonDocument
        {
            { "Status", (int)WebhookDeliveryStatus.Pending }, { "Attempts", 0 }, { "NextAttemptAt", EmailDocumentMapper.Date(now) },
            { "FirstAttemptAt", BsonNull.Value },
        }), cancellationToken: ct);
        return (int)result.ModifiedCount;
    }
}

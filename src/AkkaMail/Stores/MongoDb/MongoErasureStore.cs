using System.Text.Json;
using AkkaMail.Erasure;
using AkkaMail.Serialization;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>Erasure records in MongoDB: collection <c>erasures</c>, <c>{_id, Completed, RequestedAt, Doc}</c> with the
/// record as JSON text (no address in it).</summary>
public sealed class MongoErasureStore(IMongoDatabase database) : IErasureStore
{
    public const string CollectionName = "erasures";
    private readonly IMongoCollection<BsonDocument> _erasures = database.GetCollection<BsonDocument>(CollectionName);

    public async Task InitializeAsync(CancellationToken ct = default) =>
        await _erasures.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(
            new BsonDocument { { "Completed", 1 }, { "RequestedAt", 1 } }, new CreateIndexOptions { Name = "Completed_RequestedAt" }),
            cancellationToken: ct);

    public async Task SaveAsync(ErasureRecord record, CancellationToken ct = default) =>
        await _erasures.ReplaceOneAsync(new BsonDocument("_id", record.Id), new BsonDocument
        {
            { "_id", record.Id },
            { "Completed", record.IsCompleted },
            { "RequestedAt", EmailDocumentMapper.Date(record.RequestedAt) },
            { "Doc", JsonSerializer.Serialize(record, EmailEventSerializer.Json) },
        }, new ReplaceOptions { IsUpsert = true }, ct);

    public async Task<ErasureRecord?> GetAsync(string id, CancellationToken ct = default)
    {
        var doc = await _erasures.Find(new BsonDocument("_id", id)).FirstOrDefaultAsync(ct);
        return doc is null ? null : JsonSerializer.Deserialize<ErasureRecord>(doc["Doc"].AsString, EmailEventSerializer.Json);
    }

    public async Task<IReadOnlyList<ErasureRecord>> ListPendingAsync(int limit, CancellationToken ct = default)
    {
        var docs = await _erasures.Find(new BsonDocument("Completed", false))
            .Sort(new BsonDocument { { "RequestedAt", 1 }, { "_id", 1 } }).Limit(limit).ToListAsync(ct);
        return docs.Select(d => JsonSerializer.Deserialize<ErasureRecord>(d["Doc"].AsString, EmailEventSerializer.Json)!).ToList();
    }
}

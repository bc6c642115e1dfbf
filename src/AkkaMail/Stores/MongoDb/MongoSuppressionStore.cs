using AkkaMail.Domain;
using AkkaMail.Suppressions;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Per-user suppressions in MongoDB: collection <c>suppressions</c>,
/// <c>{_id: {UserId, Address}, UserId, Address, Reason, CreatedAt, EmailId}</c>, addresses normalized, with an index
/// <c>{UserId, Address}</c> for listing in address order. The first reason is kept (<c>$setOnInsert</c>).
/// </summary>
public sealed class MongoSuppressionStore(IMongoDatabase database) : ISuppressionStore
{
    public const string CollectionName = "suppressions";
    private const int FindChunk = 500;

    private readonly IMongoCollection<BsonDocument> _suppressions = database.GetCollection<BsonDocument>(CollectionName);

    public async Task InitializeAsync(CancellationToken ct = default) =>
        await _suppressions.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(
            new BsonDocument { { "UserId", 1 }, { "Address", 1 } }, new CreateIndexOptions { Name = "UserId_Address" }),
            cancellationToken: ct);

    /// <summary>The document's key: one suppression per (user, normalized address).</summary>
    public static BsonDocument Key(string userId, string address) =>
        new() { { "UserId", userId }, { "Address", Addresses.Normalize(address) } };

    public static BsonDocument ToBson(string userId, Suppression s)
    {
        var address = Addresses.Normalize(s.Address);
        return new BsonDocument
        {
            { "_id", Key(userId, address) },
            { "UserId", userId },
            { "Address", address },
            { "Reason", s.Reason },
            { "CreatedAt", EmailDocumentMapper.Date(s.CreatedAt) },
            { "EmailId", s.EmailId is null ? BsonNull.Value : s.EmailId },
        };
    }

    public static Suppression FromBson(BsonDocument d) => new(
        d["Address"].AsString, d["Reason"].AsString, EmailDocumentMapper.ToDate(d["CreatedAt"]),
        d.GetValue("EmailId", BsonNull.Value) is { IsBsonNull: false } e ? e.AsString : null);

    public async Task AddAsync(string userId, Suppression suppression, CancellationToken ct = default)
    {
        var doc = ToBson(userId, suppression);
        var id = doc["_id"];
        doc.Remove("_id"); // the upsert takes _id from the filter
        try
        {
            await _suppressions.UpdateOneAsync(new BsonDocument("_id", id), new BsonDocument("$setOnInsert", doc),
                new UpdateOptions { IsUpsert = true }, ct);
        }
        catch (MongoWriteException e) when (e.WriteError?.Category == ServerErrorCategory.DuplicateKey)
        {
            // A concurrent add of the same address won the insert: the first reason is kept, as intended.
        }
    }

    public async Task<Suppression?> GetAsync(string userId, string address, CancellationToken ct = default)
    {
        var doc = await _suppressions.Find(new BsonDocument("_id", Key(userId, address))).FirstOrDefaultAsync(ct);
        return doc is null ? null : FromBson(doc);
    }

    /// <summary>Lifts, kept so that a replay of the journal does not bring back a suppression lifted after its event:
    /// <c>{_id: {UserId, Address}, LiftedAt}</c>.</summary>
    public const string LiftsCollectionName = "suppression_lifts";

    private IMongoCollection<BsonDocument> Lifts => database.GetCollection<BsonDocument>(LiftsCollectionName);

    public async Task<int> HashAsync(string? userId, string address, CancellationToken ct = default)
    {
        var normalized = Addresses.Normalize(address);
        var filter = new BsonDocument("Address", normalized);
        if (userId is not null) filter.Add("UserId", userId);
        var found = await _suppressions.Find(filter).ToListAsync(ct);
        foreach (var d in found)
        {
            var user = d["UserId"].AsString;
            var s = FromBson(d);
            await AddAsync(user, s with { Address = Erasure.AddressHashes.Of(user, normalized), EmailId = null }, ct);
            await _suppressions.DeleteOneAsync(new BsonDocument("_id", Key(user, normalized)), ct);
        }
        var lifts = new BsonDocument("_id.Address", normalized);
        if (userId is not null) lifts.Add("_id.UserId", userId);
        await Lifts.DeleteManyAsync(lifts, ct);
        return found.Count;
    }

    public async Task<bool> RemoveAsync(string userId, string address, CancellationToken ct = default)
    {
        await Lifts.UpdateOneAsync(new BsonDocument("_id", Key(userId, address)),
            new BsonDocument("$set", new BsonDocument("LiftedAt", DateTime.UtcNow)), new UpdateOptions { IsUpsert = true }, ct);
        return (await _suppressions.DeleteOneAsync(new BsonDocument("_id", Key(userId, address)), ct)).DeletedCount > 0;
    }

    /// <summary>Was the address lifted at or after <paramref name="at"/>?</summary>
    public async Task<bool> LiftedSinceAsync(string userId, string address, DateTimeOffset at, CancellationToken ct = default) =>
        await Lifts.Find(new BsonDocument { { "_id", Key(userId, address) }, { "LiftedAt", new BsonDocument("$gte", at.UtcDateTime) } })
            .AnyAsync(ct);

    public async Task<IReadOnlyList<Suppression>> ListAsync(string userId, int limit, string? after, CancellationToken ct = default)
    {
        var docs = await _suppressions
            .Find(new BsonDocument { { "UserId", userId }, { "Address", new BsonDocument("$gt", after ?? "") } })
            .Sort(new BsonDocument("Address", 1)).Limit(limit).ToListAsync(ct);
        return docs.Select(FromBson).ToList();
    }

    public async Task<IReadOnlyDictionary<string, string>> FindAsync(string userId, IEnumerable<string> addresses, CancellationToken ct = default)
    {
        var wanted = addresses.Select(Addresses.Normalize).Distinct().ToList();
        var found = new Dictionary<string, string>();
        // Chunks keep each query small for 1,000-recipient emails.
        foreach (var chunk in wanted.Chunk(FindChunk))
        {
            var docs = await _suppressions
                .Find(new BsonDocument { { "UserId", userId }, { "Address", new BsonDocument("$in", new BsonArray(chunk)) } })
                .Project(new BsonDocument { { "Address", 1 }, { "Reason", 1 } }).ToListAsync(ct);
            foreach (var d in docs) found[d["Address"].AsString] = d["Reason"].AsString;
        }
        return found;
    }
}

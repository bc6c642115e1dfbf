using AkkaMail.Users;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Users and API keys in MongoDB: <c>users</c> <c>{_id: userId, Name, IsAdmin, DefaultFrom, CreatedAt}</c> and
/// <c>api_keys</c> <c>{_id: keyId, UserId, KeyHash, CreatedAt, RevokedAt}</c> with a unique index on KeyHash.
/// Keys are stored only as SHA-256 hashes (<see cref="ApiKeys.Hash"/>).
/// </summary>
public sealed class MongoUserStore(IMongoDatabase database) : IUserStore
{
    public const string UsersCollection = "users";
    public const string KeysCollection = "api_keys";

    private readonly IMongoCollection<BsonDocument> _users = database.GetCollection<BsonDocument>(UsersCollection);
    private readonly IMongoCollection<BsonDocument> _keys = database.GetCollection<BsonDocument>(KeysCollection);

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        await _keys.Indexes.CreateManyAsync(new[]
        {
            new CreateIndexModel<BsonDocument>(new BsonDocument("KeyHash", 1), new CreateIndexOptions { Name = "KeyHash", Unique = true }),
            new CreateIndexModel<BsonDocument>(new BsonDocument { { "UserId", 1 }, { "CreatedAt", 1 } }, new CreateIndexOptions { Name = "UserId_CreatedAt" }),
        }, ct);
    }

    public async Task<bool> AnyUserAsync(CancellationToken ct = default) =>
        await _users.Find(FilterDefinition<BsonDocument>.Empty).Limit(1).AnyAsync(ct);

    public async Task<CreatedUser> CreateUserAsync(string name, bool isAdmin, string? defaultFrom, CancellationToken ct = default)
    {
        var userId = "usr_" + Guid.CreateVersion7().ToString("N");
        await _users.InsertOneAsync(new BsonDocument
        {
            { "_id", userId },
            { "Name", name },
            { "IsAdmin", isAdmin },
            { "DefaultFrom", defaultFrom is null ? BsonNull.Value : defaultFrom },
            { "CreatedAt", EmailDocumentMapper.Date(DateTimeOffset.UtcNow) },
        }, cancellationToken: ct);
        var key = await InsertKeyAsync(userId, ct);
        return new CreatedUser(userId, name, key.KeyId, key.ApiKey);
    }

    private async Task<CreatedKey> InsertKeyAsync(string userId, CancellationToken ct)
    {
        var keyId = "key_" + Guid.CreateVersion7().ToString("N");
        var key = ApiKeys.NewKey();
        await _keys.InsertOneAsync(new BsonDocument
        {
            { "_id", keyId },
            { "UserId", userId },
            { "KeyHash", ApiKeys.Hash(key) },
            { "CreatedAt", EmailDocumentMapper.Date(DateTimeOffset.UtcNow) },
            { "RevokedAt", BsonNull.Value },
        }, cancellationToken: ct);
        return new CreatedKey(userId, keyId, key);
    }

    public async Task<UserIdentity?> GetUserAsync(string userId, CancellationToken ct = default)
    {
        var doc = await _users.Find(new BsonDocument("_id", userId)).FirstOrDefaultAsync(ct);
        return doc is null ? null : ToIdentity(doc);
    }

    private static UserIdentity ToIdentity(BsonDocument d) => new(
        d["_id"].AsString, d["Name"].AsString, d["IsAdmin"].AsBoolean,
        d.GetValue("DefaultFrom", BsonNull.Value) is { IsBsonNull: false } f ? f.AsString : null);

    public async Task<CreatedKey?> CreateKeyAsync(string userId, CancellationToken ct = default) =>
        await GetUserAsync(userId, ct) is null ? null : await InsertKeyAsync(userId, ct);

    public async Task<bool> RevokeKeyAsync(string userId, string keyId, CancellationToken ct = default)
    {
        var result = await _keys.UpdateOneAsync(
            new BsonDocument { { "_id", keyId }, { "UserId", userId }, { "RevokedAt", BsonNull.Value } },
            new BsonDocument("$set", new BsonDocument("RevokedAt", EmailDocumentMapper.Date(DateTimeOffset.UtcNow))),
            cancellationToken: ct);
        return result.ModifiedCount == 1;
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string userId, CancellationToken ct = default)
    {
        var docs = await _keys.Find(new BsonDocument("UserId", userId))
            .Sort(new BsonDocument { { "CreatedAt", 1 }, { "_id", 1 } }).ToListAsync(ct);
        return docs.Select(d => new ApiKeyInfo(d["_id"].AsString, EmailDocumentMapper.ToDate(d["CreatedAt"]),
            EmailDocumentMapper.ToNullableDate(d.GetValue("RevokedAt", BsonNull.Value)))).ToList();
    }

    public async Task<IReadOnlyList<UserSummary>> ListUsersAsync(int limit, string? afterId, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        // String _ids compare by their bytes (the simple collation): ordinal, like the other stores.
        var filter = afterId is null ? new BsonDocument() : new BsonDocument("_id", new BsonDocument("$gt", afterId));
        var docs = await _users.Find(filter).Sort(new BsonDocument("_id", 1)).Limit(limit).ToListAsync(ct);
        if (docs.Count == 0) return [];
        // The page's unrevoked keys counted in one query (through the UserId_CreatedAt index), not one per user.
        var ids = new BsonArray(docs.Select(d => d["_id"]));
        var counts = await _keys.Aggregate()
            .Match(new BsonDocument { { "UserId", new BsonDocument("$in", ids) }, { "RevokedAt", BsonNull.Value } })
            .Group(new BsonDocument { { "_id", "$UserId" }, { "n", new BsonDocument("$sum", 1) } })
            .ToListAsync(ct);
        var active = counts.ToDictionary(c => c["_id"].AsString, c => c["n"].ToInt32());
        return docs.Select(d =>
        {
            var user = ToIdentity(d);
            return new UserSummary(user.UserId, user.Name, user.IsAdmin, user.DefaultFrom,
                EmailDocumentMapper.ToDate(d["CreatedAt"]), active.GetValueOrDefault(user.UserId));
        }).ToList();
    }

    public async Task<UserIdentity?> AuthenticateAsync(string apiKey, CancellationToken ct = default)
    {
        // Looked up by hash: the database compares hashes, never keys.
        var key = await _keys.Find(new BsonDocument { { "KeyHash", ApiKeys.Hash(apiKey) }, { "RevokedAt", BsonNull.Value } })
            .FirstOrDefaultAsync(ct);
        return key is null ? null : await GetUserAsync(key["UserId"].AsString, ct) is { } user ? user with { KeyId = key["_id"].AsString } : null;
    }
}

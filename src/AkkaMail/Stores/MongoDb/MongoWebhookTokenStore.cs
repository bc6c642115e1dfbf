using AkkaMail.Providers;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Webhook tokens seen, in MongoDB (collection <c>webhook_tokens</c>, <c>{_id: token, ExpiresAt}</c>), so a replayed
/// webhook is caught across restarts and across instances. A TTL index on ExpiresAt lets the server delete expired
/// tokens; correctness does not wait for it: an expired token is accepted again by the filter itself.
/// </summary>
public sealed class MongoWebhookTokenStore(IMongoDatabase database, TimeProvider clock) : IWebhookTokenStore
{
    public const string CollectionName = "webhook_tokens";
    private readonly IMongoCollection<BsonDocument> _tokens = database.GetCollection<BsonDocument>(CollectionName);
    private readonly AsyncOnce _init = new();

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        await _tokens.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("ExpiresAt", 1),
            new CreateIndexOptions { Name = "ExpiresAt_ttl", ExpireAfter = TimeSpan.Zero }), cancellationToken: ct);
    }

    public async ValueTask<bool> TryRememberAsync(string token, DateTimeOffset expiresAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        var now = clock.GetUtcNow();
        var expires = expiresAt > now ? expiresAt : now;
        // A new token is inserted; a known one only matches (and is renewed) when it has expired. Otherwise the
        // filter misses, the upsert's insert hits the existing _id: a replay.
        try
        {
            await _tokens.UpdateOneAsync(
                new BsonDocument { { "_id", token }, { "ExpiresAt", new BsonDocument("$lte", EmailDocumentMapper.Date(now)) } },
                new BsonDocument("$set", new BsonDocument("ExpiresAt", EmailDocumentMapper.Date(expires))),
                new UpdateOptions { IsUpsert = true }, ct);
            return true;
        }
        catch (MongoWriteException e) when (e.WriteError?.Category == ServerErrorCategory.DuplicateKey)
        {
            return false;
        }
    }

    public async ValueTask<bool> IsKnownAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        return await _tokens.Find(new BsonDocument
        {
            { "_id", token }, { "ExpiresAt", new BsonDocument("$gt", EmailDocumentMapper.Date(clock.GetUtcNow())) },
        }).AnyAsync(ct);
    }

    public async ValueTask ForgetAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        await InitializeAsync(ct);
        await _tokens.DeleteOneAsync(new BsonDocument("_id", token), ct);
    }
}

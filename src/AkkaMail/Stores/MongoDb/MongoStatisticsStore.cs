using AkkaMail.Statistics;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Statistics in MongoDB: counts in <c>stats_counts</c> (<c>_id</c> = bucket|user|tag|start), latency cells in
/// <c>stats_latency</c>, the emails' facts in <c>stats_emails</c>, uniqueness keys in <c>stats_seen</c>, the offset in
/// <c>projection_offsets</c>. Counts are increments, so a batch and its offset are written in one multi-document
/// transaction (MongoDB needs a replica set for that; the compose file runs a one-node one).
/// </summary>
public sealed class MongoStatisticsStore(IMongoDatabase database) : IStatisticsStore
{
    public const string CountsCollection = "stats_counts";
    public const string LatencyCollection = "stats_latency";
    public const string EmailsCollection = "stats_emails";
    public const string SeenCollection = "stats_seen";

    private readonly IMongoCollection<BsonDocument> _counts = database.GetCollection<BsonDocument>(CountsCollection);
    private readonly IMongoCollection<BsonDocument> _latency = database.GetCollection<BsonDocument>(LatencyCollection);
    private readonly IMongoCollection<BsonDocument> _emails = database.GetCollection<BsonDocument>(EmailsCollection);
    private readonly IMongoCollection<BsonDocument> _seen = database.GetCollection<BsonDocument>(SeenCollection);
    private IMongoCollection<BsonDocument> Offsets => database.GetCollection<BsonDocument>(MongoEmailReadStore.OffsetsCollection);
    private readonly AsyncOnce _init = new();

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        foreach (var c in new[] { _counts, _latency })
            await c.Indexes.CreateManyAsync(
            [
                new CreateIndexModel<BsonDocument>(new BsonDocument { { "Bucket", 1 }, { "UserId", 1 }, { "Tag", 1 }, { "Start", 1 } },
                    new CreateIndexOptions { Name = "Bucket_UserId_Tag_Start" }),
                new CreateIndexModel<BsonDocument>(new BsonDocument { { "Bucket", 1 }, { "Tag", 1 }, { "Start", 1 } },
                    new CreateIndexOptions { Name = "Bucket_Tag_Start" }),
            ], ct);
    }

    public async Task<long> LoadOffsetAsync(CancellationToken ct = default)
    {
        var doc = await Offsets.Find(new BsonDocument("_id", StatisticsProjection.Name)).FirstOrDefaultAsync(ct);
        return doc?["Offset"].ToInt64() ?? 0;
    }

    public async Task<IReadOnlyDictionary<string, EmailFacts>> LoadFactsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, EmailFacts>(StringComparer.Ordinal);
        if (emailIds.Count == 0) return found;
        var docs = await _emails.Find(new BsonDocument("_id", new BsonDocument("$in", new BsonArray(emailIds)))).ToListAsync(ct);
        foreach (var d in docs)
            found[d["_id"].AsString] = new EmailFacts(d["_id"].AsString, d["UserId"].AsString, d["Tags"].AsBsonArray.Select(t => t.AsString).ToArray(),
                d["Recipients"].ToInt32(), d["AttemptStartedAt"].IsBsonNull ? null : DateTimeOffset.FromUnixTimeMilliseconds(d["AttemptStartedAt"].ToInt64()),
                d["Sent"].AsBoolean);
        return found;
    }

    public async Task<IReadOnlySet<string>> SeenAsync(IReadOnlyCollection<string> keys, CancellationToken ct = default)
    {
        if (keys.Count == 0) return new HashSet<string>();
        var docs = await _seen.Find(new BsonDocument("_id", new BsonDocument("$in", new BsonArray(keys)))).ToListAsync(ct);
        return docs.Select(d => d["_id"].AsString).ToHashSet(StringComparer.Ordinal);
    }

    private static string Id(StatsBucket b, DateTimeOffset start, string user, string tag) =>
        $"{(int)b}|{user}|{tag}|{start.ToUnixTimeMilliseconds()}";

    public async Task StoreAsync(StatisticsBatch batch, long offset, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        using var session = await database.Client.StartSessionAsync(cancellationToken: ct);
        await session.WithTransactionAsync(async (s, token) =>
        {
            if (batch.Counts.Count > 0)
                await _counts.BulkWriteAsync(s, batch.Counts.Select(kv =>
                {
                    var inc = new BsonDocument();
                    for (var i = 0; i < StatsCounters.Count; i++) inc[StatsCounters.Columns[i]] = kv.Value[i];
                    var k = kv.Key;
                    return new UpdateOneModel<BsonDocument>(new BsonDocument("_id", Id(k.Bucket, k.Start, k.UserId, k.Tag)), new BsonDocument
                    {
                        { "$inc", inc },
                        { "$setOnInsert", new BsonDocument { { "Bucket", (int)k.Bucket }, { "UserId", k.UserId }, { "Tag", k.Tag }, { "Start", k.Start.ToUnixTimeMilliseconds() } } },
                    }) { IsUpsert = true };
                }), cancellationToken: token);
            if (batch.Latency.Count > 0)
                await _latency.BulkWriteAsync(s, batch.Latency.Select(kv =>
                {
                    var k = kv.Key;
                    return new UpdateOneModel<BsonDocument>(new BsonDocument("_id", Id(k.Bucket, k.Start, k.UserId, k.Tag) + "|" + k.Bin), new BsonDocument
                    {
                        { "$inc", new BsonDocument("N", kv.Value) },
                        { "$setOnInsert", new BsonDocument { { "Bucket", (int)k.Bucket }, { "UserId", k.UserId }, { "Tag", k.Tag }, { "Start", k.Start.ToUnixTimeMilliseconds() }, { "Bin", k.Bin } } },
                    }) { IsUpsert = true };
                }), cancellationToken: token);
            if (batch.Facts.Count > 0)
                await _emails.BulkWriteAsync(s, batch.Facts.Select(f => new ReplaceOneModel<BsonDocument>(new BsonDocument("_id", f.EmailId), new BsonDocument
                {
                    { "_id", f.EmailId }, { "UserId", f.UserId }, { "Tags", new BsonArray(f.Tags) }, { "Recipients", f.Recipients },
                    { "AttemptStartedAt", f.AttemptStartedAt is { } a ? a.ToUnixTimeMilliseconds() : BsonNull.Value }, { "Sent", f.Sent },
                }) { IsUpsert = true }), cancellationToken: token);
            if (batch.FirstSeen.Count > 0)
                await _seen.BulkWriteAsync(s, batch.FirstSeen.Select(k => new ReplaceOneModel<BsonDocument>(new BsonDocument("_id", k), new BsonDocument("_id", k)) { IsUpsert = true }),
                    cancellationToken: token);
            await Offsets.UpdateOneAsync(s, new BsonDocument("_id", StatisticsProjection.Name),
                new BsonDocument("$set", new BsonDocument { { "Offset", offset }, { "UpdatedAt", DateTime.UtcNow } }),
                new UpdateOptions { IsUpsert = true }, token);
            return true;
        }, cancellationToken: ct);
    }

    public async Task<StatsResult> QueryAsync(StatsQuery query, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        BsonDocument Match(StatsBucket bucket)
        {
            var m = new BsonDocument
            {
                { "Bucket", (int)bucket }, { "Tag", query.Tag },
                { "Start", new BsonDocument { { "$gte", StatsBuckets.StartOf(bucket, query.From).ToUnixTimeMilliseconds() }, { "$lt", query.To.ToUnixTimeMilliseconds() } } },
            };
            if (query.UserId is not null) m["UserId"] = query.UserId;
            return m;
        }
        var group = new BsonDocument("_id", "$Start");
        foreach (var n in StatsCounters.Columns) group[n] = new BsonDocument("$sum", "$" + n);
        var docs = await _counts.Aggregate<BsonDocument>(new[]
        {
            new BsonDocument("$match", Match(query.Bucket)), new BsonDocument("$group", group), new BsonDocument("$sort", new BsonDocument("_id", 1)),
        }, cancellationToken: ct).ToListAsync(ct);
        var rows = docs.Select(d => new StatsRow(DateTimeOffset.FromUnixTimeMilliseconds(d["_id"].ToInt64()),
            StatsCounters.Columns.Select(n => d.GetValue(n, 0).ToInt64()).ToArray())).ToList();
        var cells = await _latency.Aggregate<BsonDocument>(new[]
        {
            new BsonDocument("$match", Match(Sqlite.SqliteStatisticsStore.LatencyBucketOf(query.Bucket))),
            new BsonDocument("$group", new BsonDocument { { "_id", new BsonDocument { { "Start", "$Start" }, { "Bin", "$Bin" } } }, { "N", new BsonDocument("$sum", "$N") } }),
            new BsonDocument("$sort", new BsonDocument("_id.Start", 1)),
        }, cancellationToken: ct).ToListAsync(ct);
        var latency = new List<LatencyRow>();
        foreach (var c in cells)
        {
            var start = DateTimeOffset.FromUnixTimeMilliseconds(c["_id"]["Start"].ToInt64());
            if (latency.Count == 0 || latency[^1].Start != start) latency.Add(new LatencyRow(start, new long[LatencyBins.Count]));
            latency[^1].Bins[c["_id"]["Bin"].ToInt32()] += c["N"].ToInt64();
        }
        return new StatsResult(rows, latency);
    }

    public async Task PruneAsync(DateTimeOffset minutesBefore, DateTimeOffset hoursBefore, CancellationToken ct = default)
    {
        await _counts.DeleteManyAsync(new BsonDocument { { "Bucket", 0 }, { "Start", new BsonDocument("$lt", minutesBefore.ToUnixTimeMilliseconds()) } }, ct);
        await _counts.DeleteManyAsync(new BsonDocument { { "Bucket", 1 }, { "Start", new BsonDocument("$lt", hoursBefore.ToUnixTimeMilliseconds()) } }, ct);
        await _latency.DeleteManyAsync(new BsonDocument { { "Bucket", 1 }, { "Start", new BsonDocument("$lt", hoursBefore.ToUnixTimeMilliseconds()) } }, ct);
    }
}

using AkkaMail.Domain;
using AkkaMail.ReadModel;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// The read model in MongoDB: collection <c>emails</c>, one document per email (<see cref="EmailDocumentMapper"/>).
/// Upserts are version-guarded: <c>ReplaceOne({_id, Version &lt; new}, doc, upsert)</c>; when a document with an equal
/// or higher version exists the filter misses, the upsert's insert hits the unique <c>_id</c>, and that duplicate-key
/// error means "a newer view is already stored" (after one retry, which settles a race of two first inserts).
/// </summary>
public sealed class MongoEmailReadStore(IMongoDatabase database, string collectionName = MongoEmailReadStore.DefaultCollection) : IEmailReadStore, IEmailProjectionStore, IEmailStorageStore
{
    public const string DefaultCollection = "emails";

    /// <summary>Phases whose send is not settled: what the dispatch sweep looks for.</summary>
    public static readonly string[] UnsettledPhases = { "Queued", "Scheduled", "Sending", "RetryWaiting" };

    private readonly IMongoCollection<BsonDocument> _emails = database.GetCollection<BsonDocument>(collectionName);

    public IMongoCollection<BsonDocument> Collection => _emails;

    public static IReadOnlyList<CreateIndexModel<BsonDocument>> Indexes { get; } = new[]
    {
        Index(new BsonDocument { { EmailFields.UserId, 1 }, { EmailFields.CreatedAt, -1 }, { EmailFields.Id, -1 } }, "UserId_CreatedAt_Id"),
        Index(new BsonDocument(EmailFields.Status, 1), "Status"),
        Index(new BsonDocument { { EmailFields.Phase, 1 }, { EmailFields.Id, 1 } }, "Phase_Id"),
        Index(new BsonDocument(EmailFields.ProviderMessageId, 1), "ProviderMessageId"),
        Index(new BsonDocument(EmailFields.Tags, 1), "Tags"),
        Index(new BsonDocument(EmailFields.RecipientAddress, 1), "Recipients_Address"),
        Index(new BsonDocument { { EmailFields.SettledAt, 1 }, { EmailFields.Id, 1 } }, "SettledAt_Id"),
        // Covers the storage figures' per-user sums.
        Index(new BsonDocument { { EmailFields.UserId, 1 }, { EmailFields.BodyBytes, 1 }, { EmailFields.BodiesRemovedAt, 1 }, { EmailFields.ViewBytes, 1 } },
            "UserId_Storage"),
        // Search: each token an index key (multikey); a query's rarest token narrows, the rest are checked per document.
        Index(new BsonDocument { { EmailFields.UserId, 1 }, { EmailFields.SearchTokens, 1 } }, "UserId_SearchTokens"),
        // Only the emails awaiting a provider's reports are in it.
        new CreateIndexModel<BsonDocument>(
            new BsonDocument { { EmailFields.AwaitingReportFrom, 1 }, { EmailFields.AwaitingReportSince, 1 }, { EmailFields.Id, 1 } },
            new CreateIndexOptions<BsonDocument>
            {
                Name = "AwaitingReportFrom_Since_Id",
                PartialFilterExpression = new BsonDocument(EmailFields.AwaitingReportFrom, new BsonDocument("$type", "string")),
            }),
    };

    private static CreateIndexModel<BsonDocument> Index(BsonDocument keys, string name) =>
        new(keys, new CreateIndexOptions { Name = name });

    /// <summary>Creates the indexes (idempotent). The id index is MongoDB's own unique <c>_id</c>.</summary>
    public Task InitializeAsync(CancellationToken ct = default) => _emails.Indexes.CreateManyAsync(Indexes, ct);

    /// <summary>Offsets of the projections that write here: <c>{_id: name, Offset, UpdatedAt}</c>.</summary>
    public const string OffsetsCollection = "projection_offsets";

    private IMongoCollection<BsonDocument> Offsets => database.GetCollection<BsonDocument>(OffsetsCollection);

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        var doc = await Offsets.Find(new BsonDocument("_id", projection)).FirstOrDefaultAsync(ct);
        return doc?["Offset"].ToInt64() ?? 0;
    }

    /// <summary>
    /// No transaction: version-guarded view upserts and <c>$setOnInsert</c> suppressions are idempotent, so the
    /// offset written last makes a crash between them re-apply the batch harmlessly.
    /// </summary>
    public async Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        long offset, CancellationToken ct = default)
    {
        await UpsertAsync(views, ct);
        if (suppressions.Count > 0)
        {
            var store = new MongoSuppressionStore(database);
            foreach (var (userId, s) in suppressions)
                if (!await store.LiftedSinceAsync(userId, s.Address, s.CreatedAt, ct))
                    await store.AddAsync(userId, s, ct);
        }
        await Offsets.UpdateOneAsync(new BsonDocument("_id", projection),
            new BsonDocument("$set", new BsonDocument { { "Offset", offset }, { "UpdatedAt", DateTime.UtcNow } }),
            new UpdateOptions { IsUpsert = true }, ct);
    }

    public async Task ResetAsync(string projection, CancellationToken ct = default)
    {
        await _emails.DeleteManyAsync(FilterDefinition<BsonDocument>.Empty, ct);
        // An erased address's suppression (its hash) has no event left to rebuild it from: it stays.
        await database.GetCollection<BsonDocument>(MongoSuppressionStore.CollectionName).DeleteManyAsync(
            new BsonDocument("Address", new BsonDocument("$not", new BsonRegularExpression("^sha256:"))), ct);
        await Offsets.DeleteOneAsync(new BsonDocument("_id", projection), ct);
    }

    public async Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default)
    {
        if (views.Count == 0) return;
        var writes = views.Select(v => (WriteModel<BsonDocument>)new ReplaceOneModel<BsonDocument>(
            UpsertFilter(v), EmailDocumentMapper.ToBson(v)) { IsUpsert = true }).ToList();
        var retry = await WriteAsync(writes, ct);
        // A duplicate key means either a newer (or equal) view is stored, or two first inserts of one email raced
        // and ours lost. Once more decides: the document exists now (views are never deleted), so the guarded
        // replace either applies or misses again because the stored version really is newer.
        if (retry.Count > 0) await WriteAsync(retry, ct);
    }

    /// <summary>Writes unordered (one stale view does not stop the others); returns the writes that hit a duplicate key.</summary>
    private async Task<List<WriteModel<BsonDocument>>> WriteAsync(List<WriteModel<BsonDocument>> writes, CancellationToken ct)
    {
        try
        {
            await _emails.BulkWriteAsync(writes, new BulkWriteOptions { IsOrdered = false }, ct);
            return new List<WriteModel<BsonDocument>>();
        }
        catch (MongoBulkWriteException<BsonDocument> e) when (e.WriteConcernError is null && e.WriteErrors.All(IsDuplicateKey))
        {
            return e.WriteErrors.Select(w => writes[w.Index]).ToList();
        }
    }

    private static bool IsDuplicateKey(BulkWriteError error) => error.Category == ServerErrorCategory.DuplicateKey;

    /// <summary>Matches the stored view only when it is older than <paramref name="v"/>.</summary>
    public static BsonDocument UpsertFilter(EmailView v) => new()
    {
        { EmailFields.Id, v.Id },
        { EmailFields.Version, new BsonDocument("$lt", v.Version) },
    };

    public async Task<EmailView?> GetAsync(string id, CancellationToken ct = default)
    {
        var doc = await _emails.Find(new BsonDocument(EmailFields.Id, id)).FirstOrDefaultAsync(ct);
        return doc is null ? null : EmailDocumentMapper.FromBson(doc);
    }

    public async Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default)
    {
        var doc = await _emails.Find(new BsonDocument(EmailFields.ProviderMessageId, providerMessageId))
            .Project(new BsonDocument(EmailFields.Id, 1)).Limit(1).FirstOrDefaultAsync(ct);
        return doc?[EmailFields.Id].AsString;
    }

    public async Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default)
    {
        var docs = await _emails.Find(ListFilter(query)).Sort(ListSort).Limit(query.Limit + 1).ToListAsync(ct);
        var more = docs.Count > query.Limit;
        if (more) docs.RemoveAt(docs.Count - 1);
        var items = docs.Select(EmailDocumentMapper.FromBson).ToList();
        return new EmailPage(items, more ? new ListPosition(items[^1].CreatedAt.ToUnixTimeMilliseconds(), items[^1].Id) : null);
    }

    /// <summary>Newest first: created time, then id, both descending (the order of the list index).</summary>
    public static readonly BsonDocument ListSort = new() { { EmailFields.CreatedAt, -1 }, { EmailFields.Id, -1 } };

    /// <summary>The filter of one page: user, optional status/recipient/tag/created range, and rows after the cursor.</summary>
    public static BsonDocument ListFilter(EmailQuery q)
    {
        var and = new BsonArray { new BsonDocument(EmailFields.UserId, q.UserId) };
        if (q.Status is not null) and.Add(new BsonDocument(EmailFields.Status, q.Status));
        if (q.Recipient is not null) and.Add(new BsonDocument(EmailFields.RecipientAddress, Addresses.Normalize(q.Recipient)));
        if (q.Tag is not null) and.Add(new BsonDocument(EmailFields.Tags, q.Tag));
        if (q.CreatedAfter is { } a) and.Add(new BsonDocument(EmailFields.CreatedAt, new BsonDocument("$gt", EmailDocumentMapper.Date(a))));
        if (q.CreatedBefore is { } b) and.Add(new BsonDocument(EmailFields.CreatedAt, new BsonDocument("$lt", EmailDocumentMapper.Date(b))));
        // Search: every token of every term must be among the email's tokens, a term's last one as a prefix (an anchored
        // regex, which the index serves as a range). Unlike SQLite and PostgreSQL, a term's tokens need not be adjacent.
        if (q.Search is { } terms)
            foreach (var term in terms)
                for (var i = 0; i < term.Count; i++)
                    and.Add(new BsonDocument(EmailFields.SearchTokens,
                        i == term.Count - 1 ? new BsonRegularExpression("^" + term[i]) : (BsonValue)term[i]));
        if (q.After is { } p)
        {
            var at = new BsonDateTime(p.CreatedAtMs);
            and.Add(new BsonDocument("$or", new BsonArray
            {
                new BsonDocument(EmailFields.CreatedAt, new BsonDocument("$lt", at)),
                new BsonDocument { { EmailFields.CreatedAt, at }, { EmailFields.Id, new BsonDocument("$lt", p.Id) } },
            }));
        }
        return and.Count == 1 ? and[0].AsBsonDocument : new BsonDocument("$and", and);
    }

    public async Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default)
    {
        var docs = await _emails.Find(UnsettledFilter(afterId))
            .Sort(new BsonDocument(EmailFields.Id, 1)).Limit(limit)
            .Project(new BsonDocument(EmailFields.Id, 1)).ToListAsync(ct);
        return docs.Select(d => d[EmailFields.Id].AsString).ToList();
    }

    public static BsonDocument UnsettledFilter(string? afterId) => new()
    {
        { EmailFields.Phase, new BsonDocument("$in", new BsonArray(UnsettledPhases)) },
        { EmailFields.Id, new BsonDocument("$gt", afterId ?? "") },
    };

    public async Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default)
    {
        var docs = await _emails.Find(SettledFilter(after, upTo))
            .Sort(new BsonDocument { { EmailFields.SettledAt, 1 }, { EmailFields.Id, 1 } }).Limit(limit)
            .Project(new BsonDocument { { EmailFields.Id, 1 }, { EmailFields.SettledAt, 1 } }).ToListAsync(ct);
        return docs.Select(d => new SettledPosition(d[EmailFields.SettledAt].AsBsonDateTime.MillisecondsSinceEpoch, d[EmailFields.Id].AsString)).ToList();
    }

    public static BsonDocument SettledFilter(SettledPosition after, DateTimeOffset upTo)
    {
        // A BSON date cannot hold long.MinValue: the start is the earliest date.
        var at = new BsonDateTime(Math.Max(after.SettledAtMs, -62135596800000L));
        return new BsonDocument("$and", new BsonArray
        {
            new BsonDocument(EmailFields.SettledAt, new BsonDocument { { "$type", "date" }, { "$lte", EmailDocumentMapper.Date(upTo) } }),
            new BsonDocument("$or", new BsonArray
            {
                new BsonDocument(EmailFields.SettledAt, new BsonDocument("$gt", at)),
                new BsonDocument { { EmailFields.SettledAt, at }, { EmailFields.Id, new BsonDocument("$gt", after.Id) } },
            }),
        });
    }

    public async Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
        CancellationToken ct = default)
    {
        var docs = await _emails.Find(AwaitingReportFilter(provider, after, sentUpTo))
            .Sort(new BsonDocument { { EmailFields.AwaitingReportFrom, 1 }, { EmailFields.AwaitingReportSince, 1 }, { EmailFields.Id, 1 } })
            .Limit(limit)
            .Project(new BsonDocument { { EmailFields.Id, 1 }, { EmailFields.AwaitingReportSince, 1 } }).ToListAsync(ct);
        return docs.Select(d => new SentPosition(d[EmailFields.AwaitingReportSince].AsBsonDateTime.MillisecondsSinceEpoch, d[EmailFields.Id].AsString))
            .ToList();
    }

    public static BsonDocument AwaitingReportFilter(string provider, SentPosition after, DateTimeOffset sentUpTo)
    {
        // A BSON date cannot hold long.MinValue: the start is the earliest date.
        var at = new BsonDateTime(Math.Max(after.SentAtMs, -62135596800000L));
        return new BsonDocument("$and", new BsonArray
        {
            new BsonDocument(EmailFields.AwaitingReportFrom, provider),
            new BsonDocument(EmailFields.AwaitingReportSince, new BsonDocument { { "$type", "date" }, { "$lte", EmailDocumentMapper.Date(sentUpTo) } }),
            new BsonDocument("$or", new BsonArray
            {
                new BsonDocument(EmailFields.AwaitingReportSince, new BsonDocument("$gt", at)),
                new BsonDocument { { EmailFields.AwaitingReportSince, at }, { EmailFields.Id, new BsonDocument("$gt", after.Id) } },
            }),
        });
    }

    public Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) =>
        ids.Count == 0 ? Task.CompletedTask
            : _emails.DeleteManyAsync(new BsonDocument(EmailFields.Id, new BsonDocument("$in", new BsonArray(ids))), ct);

    public async Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default)
    {
        var normalized = Addresses.Normalize(address);
        var domain = System.Text.RegularExpressions.Regex.Escape("@" + AddressPage.DomainOf(normalized));
        // Candidates: the address among the recipients, or a sender of its domain; confirmed below.
        var filter = new BsonDocument
        {
            { EmailFields.Id, new BsonDocument("$gt", afterId ?? "") },
            { "$or", new BsonArray
            {
                new BsonDocument(EmailFields.RecipientAddress, normalized),
                new BsonDocument(EmailFields.From, new BsonRegularExpression(domain, "i")),
            } },
        };
        if (userId is not null) filter.Add(EmailFields.UserId, userId);
        var docs = await _emails.Find(filter).Sort(new BsonDocument(EmailFields.Id, 1)).Limit(limit).ToListAsync(ct);
        return AddressPage.Of(docs.Select(EmailDocumentMapper.FromBson).ToList(), normalized, limit);
    }

    /// <summary>One $group over the covering index. A replaced document carries its view's own removal mark: the retention
    /// job sets it again if a stale view cleared it (the email answers that its bodies are gone).</summary>
    public async Task<IReadOnlyList<UserStorage>> MeasureByUserAsync(CancellationToken ct = default)
    {
        var removed = new BsonDocument("$gt", new BsonArray { "$" + EmailFields.BodiesRemovedAt, BsonNull.Value });
        var group = new BsonDocument
        {
            { "_id", "$" + EmailFields.UserId },
            { "Emails", new BsonDocument("$sum", 1) },
            { "Held", new BsonDocument("$sum", new BsonDocument("$cond", new BsonArray { removed, 0, "$" + EmailFields.BodyBytes })) },
            { "Removed", new BsonDocument("$sum", new BsonDocument("$cond", new BsonArray { removed, "$" + EmailFields.BodyBytes, 0 })) },
            { "View", new BsonDocument("$sum", "$" + EmailFields.ViewBytes) },
        };
        var rows = await _emails.Aggregate<BsonDocument>(new[] { new BsonDocument("$group", group) }, cancellationToken: ct).ToListAsync(ct);
        return rows.Select(r => new UserStorage(r["_id"].AsString,
            new StorageFigures(r["Emails"].ToInt64(), r["Held"].ToInt64(), r["Removed"].ToInt64(), r["View"].ToInt64()))).ToList();
    }

    public Task MarkBodiesRemovedAsync(IReadOnlyCollection<string> ids, DateTimeOffset at, CancellationToken ct = default) =>
        ids.Count == 0 ? Task.CompletedTask
            : _emails.UpdateManyAsync(
                new BsonDocument { { EmailFields.Id, new BsonDocument("$in", new BsonArray(ids)) }, { EmailFields.BodiesRemovedAt, BsonNull.Value } },
                new BsonDocument("$set", new BsonDocument(EmailFields.BodiesRemovedAt, at.UtcDateTime)), cancellationToken: ct);

    /// <summary>The journal plugin's collections (<see cref="JournalCollections"/>) as "journal", every other collection as
    /// "read_model": each collection's storage and index sizes (collStats), blocks not yet reused included.</summary>
    public async Task<IReadOnlyList<DiskPart>> MeasureDiskAsync(CancellationToken ct = default)
    {
        long journal = 0, readModel = 0;
        var names = await (await database.ListCollectionNamesAsync(cancellationToken: ct)).ToListAsync(ct);
        foreach (var name in names)
        {
            var stats = await database.RunCommandAsync<BsonDocument>(new BsonDocument("collStats", name), cancellationToken: ct);
            var bytes = stats.GetValue("storageSize", 0).ToInt64() + stats.GetValue("totalIndexSize", 0).ToInt64();
            if (JournalCollections.Contains(name)) journal += bytes; else readModel += bytes;
        }
        return new[] { new DiskPart("journal", journal), new DiskPart("read_model", readModel) };
    }

    /// <summary>The journal plugin's collections (AkkaMail.Persistence.MongoDb's defaults).</summary>
    public static readonly string[] JournalCollections = { "EventJournal", "SnapshotStore", "Metadata" };
}

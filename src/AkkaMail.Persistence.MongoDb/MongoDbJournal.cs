using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>
/// Akka.Persistence journal on MongoDB, with the document layout of Akka.Persistence.MongoDb:
/// one document per event in the journal collection (<c>_id = "{PersistenceId}_{SequenceNr}"</c>) and
/// the highest sequence number of a persistence id kept in the metadata collection when its events are deleted.
/// </summary>
/// <remarks>
/// Ordering: a counter document in the metadata collection (<c>_id: { counter: "Ordering" }</c>) is
/// incremented atomically with FindOneAndUpdate by the number of events of a write call, which reserves a
/// block of numbers in one round trip. Orderings are thus unique and increasing across processes and
/// restarts (unlike a timestamp, which ties and depends on clocks); they may have gaps (a failed write
/// burns its block), and two concurrent writers may commit blocks out of order.
/// </remarks>
public sealed class MongoDbJournal : AsyncWriteJournal
{
    /// <summary>The <c>_id</c> of the Ordering counter document in the metadata collection.</summary>
    public static readonly BsonDocument OrderingCounterId = new("counter", "Ordering");

    private const string CounterValueField = "Value";

    private readonly MongoDbJournalSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly JournalEntrySerializer _serializer;
    private IMongoClient _client = null!;
    private IMongoCollection<BsonDocument> _journal = null!;
    private IMongoCollection<BsonDocument> _metadata = null!;
    private readonly RetryingInitialization _initialization;
    private readonly ActorCell _cell;

    // Writes in flight per persistence id (ReadHighestSequenceNr waits for them).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _pendingWrites = new();

    public MongoDbJournal(Config config)
    {
        _settings = MongoDbJournalSettings.Create(config);
        _serializer = new JournalEntrySerializer(Context.System);
        _cell = (ActorCell)Context;
        _initialization = new RetryingInitialization(CreateIndexesAsync, _log, "journal");
    }

    protected override void PreStart()
    {
        base.PreStart();
        _client = MongoClientCache.Get(_settings.ConnectionString);
        var database = _client.GetDatabase(_settings.Database);
        _journal = database.GetCollection<BsonDocument>(_settings.JournalCollection);
        _metadata = database.GetCollection<BsonDocument>(_settings.MetadataCollection);
        if (_settings.AutoInitialize)
            _initialization.Start();
    }

    private async Task CreateIndexesAsync()
    {
        using var cts = new CancellationTokenSource(_settings.CallTimeout);
        var keys = Builders<BsonDocument>.IndexKeys;
        await _journal.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>(
                keys.Ascending(JournalFields.PersistenceId).Descending(JournalFields.SequenceNr)),
            new CreateIndexModel<BsonDocument>(keys.Ascending(JournalFields.Ordering)),
            new CreateIndexModel<BsonDocument>(keys.Ascending(JournalFields.Tags).Ascending(JournalFields.Ordering)),
        ], cts.Token).ConfigureAwait(false);
    }

    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(
        IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        // Called on the actor's thread: register the write for its persistence ids before anything is awaited,
        // so that a ReadHighestSequenceNr (also called on the actor's thread) that follows waits for it.
        var writes = messages.ToArray();
        var write = WriteAllAsync(writes, cancellationToken);
        foreach (var persistenceId in writes.Select(w => w.PersistenceId).Distinct())
            TrackPendingWrite(persistenceId, write);
        return write;
    }

    private void TrackPendingWrite(string persistenceId, Task write)
    {
        if (write.IsCompleted) return;
        var pending = _pendingWrites.TryGetValue(persistenceId, out var previous)
            ? Task.WhenAll(previous, write)
            : write;
        _pendingWrites[persistenceId] = pending;
        pending.ContinueWith(
            _ => ((ICollection<KeyValuePair<string, Task>>)_pendingWrites).Remove(new KeyValuePair<string, Task>(persistenceId, pending)),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Waits for the writes in flight for a persistence id (their outcome does not matter here).</summary>
    private static async Task AwaitQuietly(Task pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch
        {
            // the write's failure is reported to its writer
        }
    }

    private async Task<IImmutableList<Exception?>> WriteAllAsync(AtomicWrite[] writes, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        var results = new Exception?[writes.Length];

        // Serialize first: a payload that cannot be serialized rejects its AtomicWrite only.
        var documents = new List<BsonDocument>?[writes.Length];
        var eventCount = 0;
        for (var i = 0; i < writes.Length; i++)
        {
            try
            {
                var events = (IImmutableList<IPersistentRepresentation>)writes[i].Payload;
                documents[i] = events
                    .Select(p => JournalDocumentMapper.ToBson(_serializer.ToEntry(p, ordering: 0)))
                    .ToList();
                eventCount += documents[i]!.Count;
            }
            catch (Exception e)
            {
                results[i] = e;
            }
        }

        if (eventCount > 0)
        {
            // Reserve a block of Ordering numbers for the whole call, in write order.
            var next = await ReserveOrderingAsync(eventCount, cts.Token).ConfigureAwait(false);
            foreach (var docs in documents)
            {
                if (docs is null) continue;
                foreach (var doc in docs) doc[JournalFields.Ordering] = next++;
            }

            // AtomicWrites of one persistence id are written in order; different ids in parallel.
            var groups = Enumerable.Range(0, writes.Length)
                .Where(i => documents[i] is not null)
                .GroupBy(i => writes[i].PersistenceId)
                .Select(async group =>
                {
                    foreach (var i in group)
                        results[i] = await WriteAtomicAsync(documents[i]!, cts.Token).ConfigureAwait(false);
                });
            await Task.WhenAll(groups).ConfigureAwait(false);
        }

        return results.All(r => r is null) ? null! : results.ToImmutableList();
    }

    private async Task<long> ReserveOrderingAsync(int count, CancellationToken ct)
    {
        var counter = await _metadata.FindOneAndUpdateAsync(
            Builders<BsonDocument>.Filter.Eq(JournalFields.Id, OrderingCounterId),
            Builders<BsonDocument>.Update.Inc(CounterValueField, (long)count),
            new FindOneAndUpdateOptions<BsonDocument> { IsUpsert = true, ReturnDocument = ReturnDocument.After },
            ct).ConfigureAwait(false);
        return counter[CounterValueField].ToInt64() - count + 1;
    }

    /// <summary>
    /// Writes the events of one AtomicWrite. Returns null on success, the exception to reject it with when a
    /// document already exists (duplicate sequence number); throws on any other failure.
    /// </summary>
    private async Task<Exception?> WriteAtomicAsync(List<BsonDocument> docs, CancellationToken ct)
    {
        try
        {
            if (_settings.UseWriteTransaction && docs.Count > 1)
            {
                using var session = await _client.StartSessionAsync(cancellationToken: ct).ConfigureAwait(false);
                await session.WithTransactionAsync(
                    async (s, c) =>
                    {
                        await _journal.InsertManyAsync(s, docs, new InsertManyOptions { IsOrdered = true }, c)
                            .ConfigureAwait(false);
                        return true;
                    },
                    cancellationToken: ct).ConfigureAwait(false);
            }
            else if (docs.Count == 1)
            {
                await _journal.InsertOneAsync(docs[0], cancellationToken: ct).ConfigureAwait(false);
            }
            else
            {
                await _journal.InsertManyAsync(docs, new InsertManyOptions { IsOrdered = true }, ct).ConfigureAwait(false);
            }
            return null;
        }
        catch (MongoBulkWriteException e) when (e.WriteErrors.Count > 0 && e.WriteErrors.All(w => w.Category == ServerErrorCategory.DuplicateKey))
        {
            // An ordered insert stopped at the duplicate: remove what it inserted before it, so that the
            // AtomicWrite is all or nothing (best effort without a transaction).
            var failedAt = e.WriteErrors.Min(w => w.Index);
            if (failedAt > 0 && !_settings.UseWriteTransaction)
            {
                var ids = docs.Take(failedAt).Select(d => d[JournalFields.Id]);
                await _journal.DeleteManyAsync(Builders<BsonDocument>.Filter.In(JournalFields.Id, ids), ct)
                    .ConfigureAwait(false);
            }
            return new DuplicateSequenceNumberException(DescribeDuplicate(docs[failedAt]), e);
        }
        catch (MongoWriteException e) when (e.WriteError?.Category == ServerErrorCategory.DuplicateKey)
        {
            return new DuplicateSequenceNumberException(DescribeDuplicate(docs[0]), e);
        }
        catch (MongoCommandException e) when (e.Code == 11000)
        {
            // duplicate key reported by a transaction's commit
            return new DuplicateSequenceNumberException(DescribeDuplicate(docs[0]), e);
        }
    }

    private static string DescribeDuplicate(BsonDocument doc) =>
        $"Event {doc[JournalFields.SequenceNr]} of persistence id '{doc[JournalFields.PersistenceId]}' already exists.";

    public override async Task ReplayMessagesAsync(
        IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0 || fromSequenceNr > toSequenceNr) return;
        await _initialization.EnsureAsync().ConfigureAwait(false);

        var f = Builders<BsonDocument>.Filter;
        var filter = f.Eq(JournalFields.PersistenceId, persistenceId)
                     & f.Gte(JournalFields.SequenceNr, fromSequenceNr)
                     & f.Lte(JournalFields.SequenceNr, toSequenceNr);
        var find = _journal.Find(filter).Sort(Builders<BsonDocument>.Sort.Ascending(JournalFields.SequenceNr));
        if (max < int.MaxValue) find = find.Limit((int)max);

        // No overall timeout: a long replay is legitimate; each batch is bounded by the driver's own timeouts.
        using var cursor = await find.ToCursorAsync().ConfigureAwait(false);
        while (await cursor.MoveNextAsync().ConfigureAwait(false))
        {
            foreach (var doc in cursor.Current)
                recoveryCallback(_serializer.FromEntry(JournalDocumentMapper.FromBson(doc)));
        }
    }

    public override Task<long> ReadHighestSequenceNrAsync(
        string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        // A declared-new id with writes of this journal in flight is read (after them) like any other.
        var pending = _pendingWrites.TryGetValue(persistenceId, out var p) ? p : null;
        if (pending is null && _settings.TrustNewIdRecovery && NewIdRecovery.IsDeclaredNew(_cell, persistenceId))
            return NewIdRecovery.HighestOfNewId;
        return ReadHighestAsync(persistenceId, pending, cancellationToken);
    }

    private async Task<long> ReadHighestAsync(string persistenceId, Task? pending, CancellationToken cancellationToken)
    {
        // Defer until this journal's writes in flight for the id are done, or the actor may reuse numbers.
        if (pending is not null)
            await AwaitQuietly(pending).ConfigureAwait(false);
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        var fromJournal = HighestInJournalAsync(persistenceId, cts.Token);
        var fromMetadata = HighestInMetadataAsync(persistenceId, cts.Token);
        return Math.Max(await fromJournal.ConfigureAwait(false), await fromMetadata.ConfigureAwait(false));
    }

    private async Task<long> HighestInJournalAsync(string persistenceId, CancellationToken ct)
    {
        var doc = await _journal.Find(Builders<BsonDocument>.Filter.Eq(JournalFields.PersistenceId, persistenceId))
            .Sort(Builders<BsonDocument>.Sort.Descending(JournalFields.SequenceNr))
            .Project(Builders<BsonDocument>.Projection.Include(JournalFields.SequenceNr))
            .Limit(1)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return doc?[JournalFields.SequenceNr].ToInt64() ?? 0L;
    }

    private async Task<long> HighestInMetadataAsync(string persistenceId, CancellationToken ct)
    {
        var doc = await _metadata.Find(Builders<BsonDocument>.Filter.Eq(JournalFields.Id, persistenceId))
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return doc?[JournalFields.SequenceNr].ToInt64() ?? 0L;
    }

    protected override async Task DeleteMessagesToAsync(
        string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);

        // Record the highest sequence number first, so that it survives the deletion of every event.
        var highest = await HighestInJournalAsync(persistenceId, cts.Token).ConfigureAwait(false);
        if (highest > 0)
        {
            await _metadata.UpdateOneAsync(
                Builders<BsonDocument>.Filter.Eq(JournalFields.Id, persistenceId),
                Builders<BsonDocument>.Update
                    .Set(JournalFields.PersistenceId, persistenceId)
                    .Max(JournalFields.SequenceNr, highest),
                new UpdateOptions { IsUpsert = true },
                cts.Token).ConfigureAwait(false);
        }

        var f = Builders<BsonDocument>.Filter;
        await _journal.DeleteManyAsync(
            f.Eq(JournalFields.PersistenceId, persistenceId) & f.Lte(JournalFields.SequenceNr, toSequenceNr),
            cts.Token).ConfigureAwait(false);
    }

    /// <summary>Healthy while the circuit breaker is closed and the database answers a ping.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        MongoDbProbe.PingUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _journal.Database, _settings.CallTimeout, cancellationToken);
}

/// <summary>An event with the same persistence id and sequence number is already in the journal.</summary>
public sealed class DuplicateSequenceNumberException(string message, Exception inner) : Exception(message, inner);

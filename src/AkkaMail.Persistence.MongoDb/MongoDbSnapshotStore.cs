using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>
/// Akka.Persistence snapshot store on MongoDB, with the document layout of Akka.Persistence.MongoDb:
/// one document per snapshot (<c>_id = "{PersistenceId}_{SequenceNr}"</c>); saving the same sequence number
/// again replaces it. Timestamps are stored as ticks so that they round-trip exactly.
/// </summary>
public sealed class MongoDbSnapshotStore : SnapshotStore
{
    private readonly MongoDbSnapshotSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly SnapshotEntrySerializer _serializer;
    private IMongoCollection<BsonDocument> _snapshots = null!;
    private readonly RetryingInitialization _initialization;

    public MongoDbSnapshotStore(Config config)
    {
        _settings = MongoDbSnapshotSettings.Create(config);
        _serializer = new SnapshotEntrySerializer(Context.System);
        _initialization = new RetryingInitialization(CreateIndexesAsync, _log, "snapshot store");
    }

    protected override void PreStart()
    {
        base.PreStart();
        var client = MongoClientCache.Get(_settings.ConnectionString);
        _snapshots = client.GetDatabase(_settings.Database).GetCollection<BsonDocument>(_settings.SnapshotCollection);
        if (_settings.AutoInitialize)
            _initialization.Start();
    }

    private async Task CreateIndexesAsync()
    {
        using var cts = new CancellationTokenSource(_settings.CallTimeout);
        await _snapshots.Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys
                .Ascending(SnapshotFields.PersistenceId)
                .Descending(SnapshotFields.SequenceNr)
                .Descending(SnapshotFields.Timestamp)),
            cancellationToken: cts.Token).ConfigureAwait(false);
    }



    /// <summary>The filter selecting a persistence id's snapshots that match <paramref name="criteria"/>.</summary>
    internal static FilterDefinition<BsonDocument> CriteriaFilter(string persistenceId, SnapshotSelectionCriteria criteria)
    {
        var f = Builders<BsonDocument>.Filter;
        var filter = f.Eq(SnapshotFields.PersistenceId, persistenceId)
                     & f.Lte(SnapshotFields.SequenceNr, criteria.MaxSequenceNr)
                     & f.Lte(SnapshotFields.Timestamp, criteria.MaxTimeStamp.Ticks);
        if (criteria.MinSequenceNr > 0)
            filter &= f.Gte(SnapshotFields.SequenceNr, criteria.MinSequenceNr);
        if (criteria.MinTimestamp is { } min && min > DateTime.MinValue)
            filter &= f.Gte(SnapshotFields.Timestamp, min.Ticks);
        return filter;
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(
        string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        var doc = await _snapshots.Find(CriteriaFilter(persistenceId, criteria))
            .Sort(Builders<BsonDocument>.Sort.Descending(SnapshotFields.SequenceNr).Descending(SnapshotFields.Timestamp))
            .Limit(1)
            .FirstOrDefaultAsync(cts.Token).ConfigureAwait(false);
        return doc is null ? null : _serializer.FromEntry(SnapshotDocumentMapper.FromBson(doc));
    }

    protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        var doc = SnapshotDocumentMapper.ToBson(_serializer.ToEntry(metadata, snapshot));
        await _snapshots.ReplaceOneAsync(
            Builders<BsonDocument>.Filter.Eq(SnapshotFields.Id, doc[SnapshotFields.Id]),
            doc,
            new ReplaceOptions { IsUpsert = true },
            cts.Token).ConfigureAwait(false);
    }

    protected override async Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        var f = Builders<BsonDocument>.Filter;
        var filter = f.Eq(SnapshotFields.Id, JournalFields.DocumentId(metadata.PersistenceId, metadata.SequenceNr));
        if (metadata.Timestamp > DateTime.MinValue)
            filter &= f.Eq(SnapshotFields.Timestamp, metadata.Timestamp.Ticks);
        await _snapshots.DeleteOneAsync(filter, cts.Token).ConfigureAwait(false);
    }

    protected override async Task DeleteAsync(
        string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        await _initialization.EnsureAsync().ConfigureAwait(false);
        using var cts = CallTimeout.Link(cancellationToken, _settings.CallTimeout);
        await _snapshots.DeleteManyAsync(CriteriaFilter(persistenceId, criteria), cts.Token).ConfigureAwait(false);
    }

    /// <summary>Healthy while the circuit breaker is closed and the database answers a ping.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        MongoDbProbe.PingUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _snapshots.Database, _settings.CallTimeout, cancellationToken);
}

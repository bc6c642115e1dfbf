using AkkaMail.Persistence.Query;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Query;
using Akka.Streams.Dsl;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>Settings of <see cref="MongoDbReadJournal"/>: its own keys and its write plugin's database and collections.</summary>
public sealed record MongoDbReadJournalSettings(
    string WritePluginId,
    MongoDbJournalSettings Journal,
    TimeSpan RefreshInterval,
    int MaxBufferSize,
    TimeSpan GapTimeout)
{
    /// <summary>Reads the read journal's config; connection string, database and collections come from the write plugin's config.</summary>
    public static MongoDbReadJournalSettings Create(Config systemConfig, Config readJournalConfig)
    {
        var path = MongoDbReadJournal.Identifier;
        readJournalConfig = readJournalConfig.WithFallback(MongoDbPersistence.DefaultConfig().GetConfig(path));
        var writePlugin = readJournalConfig.GetString("write-plugin", MongoDbPersistence.JournalPluginId);
        if (!systemConfig.HasPath(writePlugin))
            throw new ConfigurationException($"{path}.write-plugin = '{writePlugin}' is not configured.");
        var refresh = readJournalConfig.GetTimeSpan("refresh-interval", TimeSpan.FromSeconds(1));
        if (refresh <= TimeSpan.Zero) throw new ConfigurationException($"{path}.refresh-interval must be positive.");
        var maxBuffer = readJournalConfig.GetInt("max-buffer-size", 500);
        if (maxBuffer < 1) throw new ConfigurationException($"{path}.max-buffer-size must be at least 1.");
        var gapTimeout = readJournalConfig.GetTimeSpan("gap-timeout", TimeSpan.FromSeconds(10));
        if (gapTimeout < TimeSpan.Zero) throw new ConfigurationException($"{path}.gap-timeout must not be negative.");
        return new MongoDbReadJournalSettings(
            writePlugin, MongoDbJournalSettings.Create(systemConfig.GetConfig(writePlugin)), refresh, maxBuffer, gapTimeout);
    }
}

/// <summary>Creates <see cref="MongoDbReadJournal"/> (the <c>class</c> of its config section).</summary>
public sealed class MongoDbReadJournalProvider(ExtendedActorSystem system, Config config) : IReadJournalProvider
{
    public IReadJournal GetReadJournal() =>
        new MongoDbReadJournal(system, MongoDbReadJournalSettings.Create(system.Settings.Config, config));
}

/// <summary>
/// Akka.Persistence.Query read journal of <see cref="MongoDbJournal"/>:
/// <c>PersistenceQuery.Get(system).ReadJournalFor&lt;MongoDbReadJournal&gt;(MongoDbReadJournal.Identifier)</c>.
/// </summary>
/// <remarks>
/// <para>Events are ordered by their <c>Ordering</c> field; offsets are <see cref="Sequence"/> values of it,
/// exclusive (pass the last envelope's offset back to resume; <see cref="NoOffset"/> or <c>Sequence(0)</c> start
/// from the beginning). Deleted events are absent.</para>
/// <para>Gaps: the journal reserves a block of orderings (an atomic counter increment) before it inserts the
/// events, so concurrent writers (other processes, or this one's parallel writes of different persistence ids)
/// can commit ordering 102 before 101. A live query that emitted 102 and moved its offset past 101 would lose 101
/// for good (Akka.Persistence.MongoDB issue #313). So live AllEvents/EventsByTag/PersistenceIds read only up to
/// the highest contiguous ordering (the frontier, tracked per stream) and skip a gap only once every missing
/// ordering in it was reserved at least <c>gap-timeout</c> ago: the stream reads the counter at every poll, and
/// a missing ordering at or below a counter value read gap-timeout ago is given up (a failed write burns its
/// block, deleted events leave gaps for good). Like Akka.Persistence.Sql's JournalSequenceActor, which skips
/// gaps after ~10 s. Current queries do not wait: they return what is committed up to the highest ordering at
/// their start, and may miss a write still in flight below it.</para>
/// <para>Polling only, every <c>refresh-interval</c>; each query reads at most <c>max-buffer-size</c> documents,
/// only when downstream demands.</para>
/// </remarks>
public sealed class MongoDbReadJournal :
    IReadJournal,
    IAllEventsQuery, ICurrentAllEventsQuery,
    IEventsByPersistenceIdQuery, ICurrentEventsByPersistenceIdQuery,
    IPersistenceIdsQuery, ICurrentPersistenceIdsQuery,
    IEventsByTagQuery, ICurrentEventsByTagQuery
{
    /// <summary>HOCON path (and plugin id) of the read journal.</summary>
    public const string Identifier = "akka.persistence.query.journal.mongodb";

    /// <summary>How many pages of orderings one poll scans at most to move a stream's frontier.</summary>
    private const int FrontierPagesPerPoll = 10;

    private static readonly FilterDefinitionBuilder<BsonDocument> F = Builders<BsonDocument>.Filter;
    private static readonly SortDefinition<BsonDocument> ByOrdering = Builders<BsonDocument>.Sort.Ascending(JournalFields.Ordering);

    private readonly ExtendedActorSystem _system;
    private readonly MongoDbReadJournalSettings _settings;
    private readonly IMongoCollection<BsonDocument> _journal;
    private readonly IMongoCollection<BsonDocument> _metadata;

    public MongoDbReadJournal(ExtendedActorSystem system, MongoDbReadJournalSettings settings)
    {
        _system = system;
        _settings = settings;
        var database = MongoClientCache.Get(settings.Journal.ConnectionString).GetDatabase(settings.Journal.Database);
        _journal = database.GetCollection<BsonDocument>(settings.Journal.JournalCollection);
        _metadata = database.GetCollection<BsonDocument>(settings.Journal.MetadataCollection);
    }

    /// <summary>The plugin's reference config (found by Akka.Persistence.Query when the section is not configured).</summary>
    public static Config DefaultConfiguration() => MongoDbPersistence.DefaultConfig();

    public MongoDbReadJournalSettings Settings => _settings;

    /// <summary>The highest ordering in the journal collection (0 when it is empty).</summary>
    public async Task<long> HighestOrderingAsync(CancellationToken ct = default)
    {
        var doc = await _journal.Find(FilterDefinition<BsonDocument>.Empty)
            .Sort(Builders<BsonDocument>.Sort.Descending(JournalFields.Ordering))
            .Project(Builders<BsonDocument>.Projection.Include(JournalFields.Ordering).Exclude(JournalFields.Id))
            .Limit(1)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return doc is not null && doc.TryGetValue(JournalFields.Ordering, out var o) ? o.ToInt64() : 0L;
    }

    /// <summary>The stored timestamp of the first event after <paramref name="ordering"/>, or null if there is none
    /// (a projection's lag: the age of the oldest event it has not yet projected).</summary>
    public async Task<long?> TimestampAfterAsync(long ordering, CancellationToken ct = default)
    {
        var doc = await _journal.Find(Builders<BsonDocument>.Filter.Gt(JournalFields.Ordering, ordering))
            .Sort(Builders<BsonDocument>.Sort.Ascending(JournalFields.Ordering))
            .Project(Builders<BsonDocument>.Projection.Include(JournalFields.Timestamp).Exclude(JournalFields.Id))
            .Limit(1)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return doc is not null && doc.TryGetValue(JournalFields.Timestamp, out var t) ? t.ToInt64() : null;
    }

    /// <summary>The Ordering counter: every ordering up to it has been reserved (0 before the first write).</summary>
    private async Task<long> ReservedOrderingAsync(CancellationToken ct)
    {
        var doc = await _metadata.Find(F.Eq(JournalFields.Id, MongoDbJournal.OrderingCounterId))
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return doc is not null && doc.TryGetValue("Value", out var v) ? v.ToInt64() : 0L;
    }

    public Source<EventEnvelope, NotUsed> AllEvents(Offset offset) =>
        Live("AllEvents", () => new OrderingQuery(this, null, FromOffset(offset), live: true));

    public Source<EventEnvelope, NotUsed> CurrentAllEvents(Offset offset) =>
        Current("CurrentAllEvents", () => new OrderingQuery(this, null, FromOffset(offset), live: false));

    public Source<EventEnvelope, NotUsed> EventsByTag(string tag, Offset offset)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        return Live("EventsByTag", () => new OrderingQuery(this, tag, FromOffset(offset), live: true));
    }

    public Source<EventEnvelope, NotUsed> CurrentEventsByTag(string tag, Offset offset)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        return Current("CurrentEventsByTag", () => new OrderingQuery(this, tag, FromOffset(offset), live: false));
    }

    public Source<EventEnvelope, NotUsed> EventsByPersistenceId(string persistenceId, long fromSequenceNr, long toSequenceNr)
    {
        ArgumentException.ThrowIfNullOrEmpty(persistenceId);
        return Live("EventsByPersistenceId", () => new PersistenceIdQuery(this, persistenceId, fromSequenceNr, toSequenceNr, live: true));
    }

    public Source<EventEnvelope, NotUsed> CurrentEventsByPersistenceId(string persistenceId, long fromSequenceNr, long toSequenceNr)
    {
        ArgumentException.ThrowIfNullOrEmpty(persistenceId);
        return Current("CurrentEventsByPersistenceId", () => new PersistenceIdQuery(this, persistenceId, fromSequenceNr, toSequenceNr, live: false));
    }

    public Source<string, NotUsed> PersistenceIds() =>
        Source.FromGraph(new PollingSource<string>(() => new PersistenceIdsQuery(this, live: true), _settings.RefreshInterval, null, "MongoDbPersistenceIds"));

    public Source<string, NotUsed> CurrentPersistenceIds() =>
        Source.FromGraph(new PollingSource<string>(() => new PersistenceIdsQuery(this, live: false), null, null, "MongoDbCurrentPersistenceIds"));

    private Source<EventEnvelope, NotUsed> Live(string name, Func<IPollingQuery<EventEnvelope>> query) =>
        Source.FromGraph(new PollingSource<EventEnvelope>(query, _settings.RefreshInterval, null, "MongoDb" + name));

    private Source<EventEnvelope, NotUsed> Current(string name, Func<IPollingQuery<EventEnvelope>> query) =>
        Source.FromGraph(new PollingSource<EventEnvelope>(query, null, null, "MongoDb" + name));

    private static long FromOffset(Offset? offset) => offset switch
    {
        null or NoOffset => 0,
        Sequence s => s.Value,
        _ => throw new ArgumentException(
            $"MongoDbReadJournal takes Sequence or NoOffset offsets, not {offset.GetType().Name}.", nameof(offset)),
    };

    private static FilterDefinition<BsonDocument> NotDeleted => F.Ne(JournalFields.IsDeleted, true);

    private async Task<List<EventEnvelope>> ReadEnvelopesAsync(
        FilterDefinition<BsonDocument> filter, SortDefinition<BsonDocument> sort, CancellationToken ct)
    {
        var docs = await _journal.Find(filter & NotDeleted).Sort(sort).Limit(_settings.MaxBufferSize)
            .ToListAsync(ct).ConfigureAwait(false);
        var envelopes = new List<EventEnvelope>(docs.Count);
        foreach (var doc in docs)
        {
            var entry = JournalDocumentMapper.FromBson(doc);
            var payload = _system.Serialization.Deserialize(entry.Payload, entry.SerializerId, entry.Manifest);
            envelopes.Add(new EventEnvelope(
                new Sequence(entry.Ordering), entry.PersistenceId, entry.SequenceNr, payload, entry.Timestamp, entry.Tags.ToArray()));
        }
        return envelopes;
    }

    /// <summary>
    /// The highest contiguous ordering of one live stream (see the remarks of <see cref="MongoDbReadJournal"/>):
    /// everything at or below it is committed, or was given up after gap-timeout.
    /// </summary>
    private sealed class Frontier(MongoDbReadJournal journal, long start)
    {
        private readonly Queue<(long Reserved, DateTime At)> _checkpoints = new();
        private long _givenUpTo; // missing orderings at or below this were reserved gap-timeout ago or more

        public long Value { get; private set; } = start;

        /// <summary>Moves the frontier; true if it stopped at the page cap with more orderings probably waiting.</summary>
        public async Task<bool> AdvanceAsync(CancellationToken ct)
        {
            var now = DateTime.UtcNow;
            _checkpoints.Enqueue((await journal.ReservedOrderingAsync(ct).ConfigureAwait(false), now));
            while (_checkpoints.Count > 0 && now - _checkpoints.Peek().At >= journal._settings.GapTimeout)
                _givenUpTo = Math.Max(_givenUpTo, _checkpoints.Dequeue().Reserved);

            var limit = journal._settings.MaxBufferSize;
            for (var page = 0; page < FrontierPagesPerPoll; page++)
            {
                var docs = await journal._journal.Find(F.Gt(JournalFields.Ordering, Value)).Sort(ByOrdering)
                    .Project(Builders<BsonDocument>.Projection.Include(JournalFields.Ordering).Exclude(JournalFields.Id))
                    .Limit(limit).ToListAsync(ct).ConfigureAwait(false);
                foreach (var doc in docs)
                {
                    var ordering = doc[JournalFields.Ordering].ToInt64();
                    // next in line, or every missing ordering below it reserved long enough ago to give up on
                    if (ordering != Value + 1 && ordering - 1 > _givenUpTo) return false;
                    Value = ordering;
                }
                if (docs.Count < limit) return false;
            }
            return true;
        }
    }

    /// <summary>All events, or a tag's, by ordering (a live query up to its frontier).</summary>
    private sealed class OrderingQuery(MongoDbReadJournal journal, string? tag, long from, bool live) : IPollingQuery<EventEnvelope>
    {
        private readonly Frontier? _frontier = live ? new Frontier(journal, from) : null;
        private long _cursor = from;
        private long _bound = -1;

        public async Task<PollResult<EventEnvelope>> FetchAsync(CancellationToken ct)
        {
            var frontierBehind = false;
            long upTo;
            if (_frontier is not null)
            {
                frontierBehind = await _frontier.AdvanceAsync(ct).ConfigureAwait(false);
                upTo = _frontier.Value;
                if (upTo <= _cursor) return new([], frontierBehind, false);
            }
            else
            {
                if (_bound < 0) _bound = await journal.HighestOrderingAsync(ct).ConfigureAwait(false);
                if (_cursor >= _bound) return new([], false, true);
                upTo = _bound;
            }

            var filter = F.Gt(JournalFields.Ordering, _cursor) & F.Lte(JournalFields.Ordering, upTo);
            if (tag is not null) filter &= F.AnyEq(JournalFields.Tags, tag);
            var envelopes = await journal.ReadEnvelopesAsync(filter, ByOrdering, ct).ConfigureAwait(false);
            var full = envelopes.Count == journal._settings.MaxBufferSize;
            // A page that is not full has read everything up to upTo: a rare tag need not rescan it.
            _cursor = full ? ((Sequence)envelopes[^1].Offset).Value : upTo;
            var completed = !live && (!full || _cursor >= _bound);
            return new(envelopes, full || frontierBehind, completed);
        }
    }

    /// <summary>A persistence id's events by sequence number (one writer per id: no ordering gaps to wait for).</summary>
    private sealed class PersistenceIdQuery(MongoDbReadJournal journal, string persistenceId, long from, long to, bool live)
        : IPollingQuery<EventEnvelope>
    {
        private long _from = Math.Max(from, 0);
        private long _bound = -1;

        public async Task<PollResult<EventEnvelope>> FetchAsync(CancellationToken ct)
        {
            if (_from > to) return new([], false, true);
            var filter = F.Eq(JournalFields.PersistenceId, persistenceId)
                         & F.Gte(JournalFields.SequenceNr, _from) & F.Lte(JournalFields.SequenceNr, to);
            if (!live)
            {
                if (_bound < 0) _bound = await journal.HighestOrderingAsync(ct).ConfigureAwait(false);
                filter &= F.Lte(JournalFields.Ordering, _bound);
            }
            var envelopes = await journal.ReadEnvelopesAsync(
                filter, Builders<BsonDocument>.Sort.Ascending(JournalFields.SequenceNr), ct).ConfigureAwait(false);
            var full = envelopes.Count == journal._settings.MaxBufferSize;
            if (envelopes.Count > 0) _from = envelopes[^1].SequenceNr + 1;
            var completed = _from > to || (!live && !full);
            return new(envelopes, full && !completed, completed);
        }
    }

    /// <summary>
    /// Persistence ids: the distinct ids of the journal (one distinct command), then, for a live query, the ids of
    /// documents after the highest ordering at its start, up to its frontier, each id emitted once.
    /// </summary>
    private sealed class PersistenceIdsQuery(MongoDbReadJournal journal, bool live) : IPollingQuery<string>
    {
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private Frontier? _frontier;
        private long _cursor;

        public async Task<PollResult<string>> FetchAsync(CancellationToken ct)
        {
            if (_frontier is null)
            {
                _cursor = await journal.HighestOrderingAsync(ct).ConfigureAwait(false);
                _frontier = new Frontier(journal, _cursor);
                using var distinct = await journal._journal.DistinctAsync<string>(
                    JournalFields.PersistenceId, NotDeleted, cancellationToken: ct).ConfigureAwait(false);
                var ids = await distinct.ToListAsync(ct).ConfigureAwait(false);
                if (live) _seen.UnionWith(ids);
                return new(ids, live, !live);
            }

            var behind = await _frontier.AdvanceAsync(ct).ConfigureAwait(false);
            if (_frontier.Value <= _cursor) return new([], behind, false);
            var docs = await journal._journal
                .Find(F.Gt(JournalFields.Ordering, _cursor) & F.Lte(JournalFields.Ordering, _frontier.Value))
                .Sort(ByOrdering)
                .Project(Builders<BsonDocument>.Projection.Include(JournalFields.PersistenceId).Include(JournalFields.Ordering))
                .Limit(journal._settings.MaxBufferSize)
                .ToListAsync(ct).ConfigureAwait(false);
            var full = docs.Count == journal._settings.MaxBufferSize;
            var fresh = new List<string>();
            foreach (var doc in docs)
            {
                var id = doc[JournalFields.PersistenceId].AsString;
                if (_seen.Add(id)) fresh.Add(id);
            }
            _cursor = full ? docs[^1][JournalFields.Ordering].ToInt64() : _frontier.Value;
            return new(fresh, full || behind, false);
        }
    }
}

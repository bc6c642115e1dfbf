using AkkaMail.Persistence.Query;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Query;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>Settings of <see cref="SqliteReadJournal"/>: its own keys and its write plugin's database and table.</summary>
public sealed record SqliteReadJournalSettings(
    string WritePluginId,
    SqliteJournalSettings Journal,
    TimeSpan RefreshInterval,
    int MaxBufferSize)
{
    /// <summary>Reads the read journal's config; the connection string and table come from the write plugin's config.</summary>
    public static SqliteReadJournalSettings Create(Config systemConfig, Config readJournalConfig)
    {
        var path = SqliteReadJournal.Identifier;
        readJournalConfig = readJournalConfig.WithFallback(SqlitePersistence.DefaultConfig().GetConfig(path));
        var writePlugin = readJournalConfig.GetString("write-plugin", SqlitePersistence.JournalPluginId);
        if (!systemConfig.HasPath(writePlugin))
            throw new ConfigurationException($"{path}.write-plugin = '{writePlugin}' is not configured.");
        var refresh = readJournalConfig.GetTimeSpan("refresh-interval", TimeSpan.FromSeconds(1));
        if (refresh <= TimeSpan.Zero) throw new ConfigurationException($"{path}.refresh-interval must be positive.");
        var maxBuffer = readJournalConfig.GetInt("max-buffer-size", 500);
        if (maxBuffer < 1) throw new ConfigurationException($"{path}.max-buffer-size must be at least 1.");
        return new SqliteReadJournalSettings(
            writePlugin, SqliteJournalSettings.Create(systemConfig.GetConfig(writePlugin)), refresh, maxBuffer);
    }
}

/// <summary>Creates <see cref="SqliteReadJournal"/> (the <c>class</c> of its config section).</summary>
public sealed class SqliteReadJournalProvider(ExtendedActorSystem system, Config config) : IReadJournalProvider
{
    public IReadJournal GetReadJournal() =>
        new SqliteReadJournal(system, SqliteReadJournalSettings.Create(system.Settings.Config, config));
}

/// <summary>
/// Akka.Persistence.Query read journal of <see cref="SqliteJournal"/>:
/// <c>PersistenceQuery.Get(system).ReadJournalFor&lt;SqliteReadJournal&gt;(SqliteReadJournal.Identifier)</c>.
/// </summary>
/// <remarks>
/// <para>Events are ordered by the journal's <c>ordering</c> column (the rowid). Offsets are <see cref="Sequence"/>
/// values of that column and exclusive: pass the last envelope's offset back to resume; <see cref="NoOffset"/> or
/// <c>Sequence(0)</c> start from the beginning. Deleted events are simply absent.</para>
/// <para>No gap handling is needed: the journal has one writer thread per database, so orderings are assigned
/// and committed in increasing order; a reader never sees ordering n+1 committed before n. (Gaps do exist, from
/// deleted events, and they are permanent.)</para>
/// <para>Each query reads at most <c>max-buffer-size</c> rows, only when downstream demands, on a pooled read
/// connection. Current queries complete at the highest ordering that existed when they started. Live queries
/// poll every <c>refresh-interval</c> and are woken at once by commits of a journal writer of this process on the
/// same database (<see cref="SqliteJournalNotifications"/>).</para>
/// </remarks>
public sealed class SqliteReadJournal :
    IReadJournal,
    IAllEventsQuery, ICurrentAllEventsQuery,
    IEventsByPersistenceIdQuery, ICurrentEventsByPersistenceIdQuery,
    IPersistenceIdsQuery, ICurrentPersistenceIdsQuery,
    IEventsByTagQuery, ICurrentEventsByTagQuery
{
    /// <summary>HOCON path (and plugin id) of the read journal.</summary>
    public const string Identifier = "akka.persistence.query.journal.sqlite";

    private const string Columns = "ordering, persistence_id, sequence_nr, timestamp, manifest, serializer_id, payload, tags";

    private readonly ExtendedActorSystem _system;
    private readonly SqliteReadJournalSettings _settings;
    private readonly SqliteJournalNotifications _notifications;
    private readonly string _table;

    public SqliteReadJournal(ExtendedActorSystem system, SqliteReadJournalSettings settings)
    {
        _system = system;
        _settings = settings;
        _table = SqliteSchema.Quote(settings.Journal.TableName);
        _notifications = SqliteJournalNotifications.For(settings.Journal.ConnectionString);
    }

    /// <summary>The plugin's reference config (found by Akka.Persistence.Query when the section is not configured).</summary>
    public static Config DefaultConfiguration() => SqlitePersistence.DefaultConfig();

    public SqliteReadJournalSettings Settings => _settings;

    /// <summary>
    /// The highest ordering committed by a journal writer of this process on this database, or -1 when none has
    /// committed since the process started (use <see cref="HighestOrderingAsync"/> then).
    /// </summary>
    public long LastCommittedOrdering => _notifications.LastCommittedOrdering;

    /// <summary>The highest ordering in the journal table (0 when it is empty).</summary>
    public Task<long> HighestOrderingAsync(CancellationToken ct = default) =>
        Task.Run(() =>
        {
            using var connection = Open();
            return MaxOrdering(connection);
        }, ct);

    /// <summary>The stored timestamp of the first event after <paramref name="ordering"/>, or null if there is none
    /// (a projection's lag: the age of the oldest event it has not yet projected). From memory when this process
    /// committed it recently.</summary>
    public Task<long?> TimestampAfterAsync(long ordering, CancellationToken ct = default)
    {
        var recent = new List<RecentEvent>(1);
        if (_notifications.TryReadRecent(ordering, 1, recent) && recent.Count == 1) return Task.FromResult<long?>(recent[0].Timestamp);
        return Task.Run(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT timestamp FROM {_table} WHERE ordering > $o ORDER BY ordering LIMIT 1;";
            command.Parameters.Add("$o", SqliteType.Integer).Value = ordering;
            return command.ExecuteScalar() is long t ? (long?)t : null;
        }, ct);
    }

    public Source<EventEnvelope, NotUsed> AllEvents(Offset offset) =>
        Events("AllEvents", () => new OrderingQuery(this, null, FromOffset(offset), live: true), live: true);

    public Source<EventEnvelope, NotUsed> CurrentAllEvents(Offset offset) =>
        Events("CurrentAllEvents", () => new OrderingQuery(this, null, FromOffset(offset), live: false), live: false);

    public Source<EventEnvelope, NotUsed> EventsByTag(string tag, Offset offset)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        return Events("EventsByTag", () => new OrderingQuery(this, tag, FromOffset(offset), live: true), live: true);
    }

    public Source<EventEnvelope, NotUsed> CurrentEventsByTag(string tag, Offset offset)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        return Events("CurrentEventsByTag", () => new OrderingQuery(this, tag, FromOffset(offset), live: false), live: false);
    }

    public Source<EventEnvelope, NotUsed> EventsByPersistenceId(string persistenceId, long fromSequenceNr, long toSequenceNr)
    {
        ArgumentException.ThrowIfNullOrEmpty(persistenceId);
        return Events("EventsByPersistenceId",
            () => new PersistenceIdQuery(this, persistenceId, fromSequenceNr, toSequenceNr, live: true), live: true);
    }

    public Source<EventEnvelope, NotUsed> CurrentEventsByPersistenceId(string persistenceId, long fromSequenceNr, long toSequenceNr)
    {
        ArgumentException.ThrowIfNullOrEmpty(persistenceId);
        return Events("CurrentEventsByPersistenceId",
            () => new PersistenceIdQuery(this, persistenceId, fromSequenceNr, toSequenceNr, live: false), live: false);
    }

    public Source<string, NotUsed> PersistenceIds() =>
        Source.FromGraph(new PollingSource<string>(
            () => new PersistenceIdsQuery(this, live: true), _settings.RefreshInterval, _notifications.Subscribe, "SqlitePersistenceIds"));

    public Source<string, NotUsed> CurrentPersistenceIds() =>
        Source.FromGraph(new PollingSource<string>(
            () => new PersistenceIdsQuery(this, live: false), null, null, "SqliteCurrentPersistenceIds"));

    private Source<EventEnvelope, NotUsed> Events(string name, Func<IPollingQuery<EventEnvelope>> query, bool live) =>
        Source.FromGraph(new PollingSource<EventEnvelope>(
            query, live ? _settings.RefreshInterval : null, live ? _notifications.Subscribe : null, "Sqlite" + name));

    private static long FromOffset(Offset? offset) => offset switch
    {
        null or NoOffset => 0,
        Sequence s => s.Value,
        _ => throw new ArgumentException(
            $"SqliteReadJournal takes Sequence or NoOffset offsets, not {offset.GetType().Name}.", nameof(offset)),
    };

    private readonly object _initLock = new();
    private volatile bool _initialized;

    /// <summary>
    /// A pooled read connection. The first one creates the tables (CREATE TABLE IF NOT EXISTS) when the write
    /// plugin's auto-initialize is on, as the journal would: a query may start before the journal's first write.
    /// </summary>
    private SqliteConnection Open()
    {
        var connectionString = _settings.Journal.ConnectionString;
        if (!_initialized && _settings.Journal.AutoInitialize)
        {
            lock (_initLock)
            {
                if (!_initialized)
                {
                    SqliteSchema.EnsureWal(connectionString);
                    using var connection = SqliteSchema.Open(connectionString);
                    using var command = connection.CreateCommand();
                    command.CommandText = SqliteSchema.JournalTables(_settings.Journal.TableName, _settings.Journal.MetadataTableName);
                    command.ExecuteNonQuery();
                    _initialized = true;
                }
            }
        }
        return SqliteSchema.Open(connectionString, forWriting: false);
    }

    private long MaxOrdering(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT COALESCE(MAX(ordering), 0) FROM {_table};";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Reads the envelopes of a query whose columns are <see cref="Columns"/>.</summary>
    private List<EventEnvelope> ReadEnvelopes(SqliteCommand command)
    {
        var envelopes = new List<EventEnvelope>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var payload = _system.Serialization.Deserialize(
                reader.GetFieldValue<byte[]>(6), reader.GetInt32(5), reader.GetString(4));
            envelopes.Add(new EventEnvelope(
                new Sequence(reader.GetInt64(0)), reader.GetString(1), reader.GetInt64(2), payload, reader.GetInt64(3),
                reader.IsDBNull(7) ? [] : reader.GetString(7).Split(';', StringSplitOptions.RemoveEmptyEntries)));
        }
        return envelopes;
    }

    /// <summary>
    /// All events, or a tag's, by ordering. A live query that reads a page that is not full moves its cursor to
    /// the highest ordering of the same snapshot (one read transaction), so that a rare tag does not rescan the
    /// rows after its last event at every poll.
    /// </summary>
    private sealed class OrderingQuery(SqliteReadJournal journal, string? tag, long from, bool live) : IPollingQuery<EventEnvelope>
    {
        private long _cursor = from;
        private long _bound = -1;

        private readonly List<RecentEvent> _recent = new();

        public Task<PollResult<EventEnvelope>> FetchAsync(CancellationToken cancellationToken) =>
            FetchRecent() is { } recent ? Task.FromResult(recent) : Task.Run(Fetch, cancellationToken);

        /// <summary>A live query of all events that has caught up reads what this process commits from memory.</summary>
        private PollResult<EventEnvelope>? FetchRecent()
        {
            if (!live || tag is not null) return null;
            _recent.Clear();
            var limit = journal._settings.MaxBufferSize;
            if (!journal._notifications.TryReadRecent(_cursor, limit, _recent)) return null;
            if (_recent.Count == 0) return new([], false, false);
            var envelopes = new List<EventEnvelope>(_recent.Count);
            foreach (var e in _recent)
                envelopes.Add(new EventEnvelope(new Sequence(e.Ordering), e.PersistenceId, e.SequenceNr, e.Event!, e.Timestamp,
                    e.Tags is null ? [] : e.Tags.Split(';', StringSplitOptions.RemoveEmptyEntries)));
            _cursor = _recent[^1].Ordering;
            _recent.Clear();
            return new(envelopes, envelopes.Count == limit, false);
        }

        private PollResult<EventEnvelope> Fetch()
        {
            var limit = journal._settings.MaxBufferSize;
            using var connection = journal.Open();
            using var transaction = connection.BeginTransaction(deferred: true);
            if (!live && _bound < 0) _bound = journal.MaxOrdering(connection, transaction);
            if (!live && _cursor >= _bound) return new([], false, true);

            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText =
                $"SELECT {Columns} FROM {journal._table} WHERE ordering > $from AND ordering <= $to" +
                (tag is null ? "" : " AND instr(tags, ';' || $tag || ';') > 0") +
                " ORDER BY ordering LIMIT $n;";
            command.Parameters.Add("$from", SqliteType.Integer).Value = _cursor;
            command.Parameters.Add("$to", SqliteType.Integer).Value = live ? long.MaxValue : _bound;
            command.Parameters.Add("$n", SqliteType.Integer).Value = limit;
            if (tag is not null) command.Parameters.Add("$tag", SqliteType.Text).Value = tag;
            var envelopes = journal.ReadEnvelopes(command);

            var full = envelopes.Count == limit;
            if (envelopes.Count > 0) _cursor = ((Sequence)envelopes[^1].Offset).Value;
            if (!full && live && tag is not null) _cursor = Math.Max(_cursor, journal.MaxOrdering(connection, transaction));
            var completed = !live && (!full || _cursor >= _bound);
            return new(envelopes, full, completed);
        }
    }

    /// <summary>A persistence id's events by sequence number (a current query stops at the ordering bound of its start).</summary>
    private sealed class PersistenceIdQuery(SqliteReadJournal journal, string persistenceId, long from, long to, bool live)
        : IPollingQuery<EventEnvelope>
    {
        private long _from = Math.Max(from, 0);
        private long _bound = -1;

        public Task<PollResult<EventEnvelope>> FetchAsync(CancellationToken cancellationToken) =>
            Task.Run(Fetch, cancellationToken);

        private PollResult<EventEnvelope> Fetch()
        {
            if (_from > to) return new([], false, true);
            var limit = journal._settings.MaxBufferSize;
            using var connection = journal.Open();
            if (!live && _bound < 0) _bound = journal.MaxOrdering(connection);

            using var command = connection.CreateCommand();
            command.CommandText =
                $"SELECT {Columns} FROM {journal._table} WHERE persistence_id = $pid AND sequence_nr >= $from " +
                "AND sequence_nr <= $to AND ordering <= $bound ORDER BY sequence_nr LIMIT $n;";
            command.Parameters.Add("$pid", SqliteType.Text).Value = persistenceId;
            command.Parameters.Add("$from", SqliteType.Integer).Value = _from;
            command.Parameters.Add("$to", SqliteType.Integer).Value = to;
            command.Parameters.Add("$bound", SqliteType.Integer).Value = live ? long.MaxValue : _bound;
            command.Parameters.Add("$n", SqliteType.Integer).Value = limit;
            var envelopes = journal.ReadEnvelopes(command);

            var full = envelopes.Count == limit;
            if (envelopes.Count > 0) _from = envelopes[^1].SequenceNr + 1;
            var completed = _from > to || (!live && !full);
            return new(envelopes, full && !completed, completed);
        }
    }

    /// <summary>
    /// Persistence ids: first the distinct ids in the journal (through the (persistence_id, sequence_nr) index,
    /// page by page); a live query then follows the rows written after its start and emits the ids it has not
    /// seen (it keeps every id seen in memory).
    /// </summary>
    private sealed class PersistenceIdsQuery(SqliteReadJournal journal, bool live) : IPollingQuery<string>
    {
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private string? _after;
        private bool _distinctDone;
        private long _cursor = -1;

        public Task<PollResult<string>> FetchAsync(CancellationToken cancellationToken) =>
            Task.Run(Fetch, cancellationToken);

        private PollResult<string> Fetch()
        {
            var limit = journal._settings.MaxBufferSize;
            using var connection = journal.Open();
            // Rows after this ordering are followed by the live phase (ids seen by both phases are emitted once).
            if (_cursor < 0) _cursor = journal.MaxOrdering(connection);
            var ids = new List<string>();
            using var command = connection.CreateCommand();
            if (!_distinctDone)
            {
                command.CommandText =
                    $"SELECT DISTINCT persistence_id FROM {journal._table} " +
                    (_after is null ? "" : "WHERE persistence_id > $after ") + "ORDER BY persistence_id LIMIT $n;";
                if (_after is not null) command.Parameters.Add("$after", SqliteType.Text).Value = _after;
                command.Parameters.Add("$n", SqliteType.Integer).Value = limit;
                using (var reader = command.ExecuteReader())
                    while (reader.Read())
                        ids.Add(reader.GetString(0));
                if (ids.Count > 0) _after = ids[^1];
                var full = ids.Count == limit;
                if (!full) _distinctDone = true;
                if (live)
                    foreach (var id in ids) _seen.Add(id);
                return new(ids, full || live, !live && !full);
            }

            command.CommandText =
                $"SELECT persistence_id, ordering FROM {journal._table} WHERE ordering > $from ORDER BY ordering LIMIT $n;";
            command.Parameters.Add("$from", SqliteType.Integer).Value = _cursor;
            command.Parameters.Add("$n", SqliteType.Integer).Value = limit;
            var rows = 0;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    rows++;
                    _cursor = reader.GetInt64(1);
                    var id = reader.GetString(0);
                    if (_seen.Add(id)) ids.Add(id);
                }
            }
            return new(ids, rows == limit, false);
        }
    }
}

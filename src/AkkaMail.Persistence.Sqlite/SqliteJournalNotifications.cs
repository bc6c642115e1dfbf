using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>An event committed by this process's journal writer: its ordering, and the payload object itself.</summary>
internal readonly record struct RecentEvent(long Ordering, string PersistenceId, long SequenceNr, long Timestamp, object? Event, string? Tags);

/// <summary>
/// In-process commit notifications of one SQLite database file: the journal's writer signals every successful
/// commit with the highest ordering it committed, and live queries of <see cref="SqliteReadJournal"/> on the
/// same file re-query at once instead of waiting for their next poll. Other processes writing the file are not
/// seen here (their commits are picked up by polling).
/// </summary>
public sealed class SqliteJournalNotifications
{
    private static readonly ConcurrentDictionary<string, SqliteJournalNotifications> ByDatabase =
        new(StringComparer.Ordinal);

    private readonly object _lock = new();
    private Action[] _listeners = [];
    private long _lastCommittedOrdering = -1;

    private SqliteJournalNotifications(string database) => Database = database;

    /// <summary>The key of the database: the full path of its file (or the data source of an in-memory database).</summary>
    public string Database { get; }

    /// <summary>
    /// The highest ordering committed by a journal writer of this process on this database, or -1 when none has
    /// committed since the process started.
    /// </summary>
    public long LastCommittedOrdering => Volatile.Read(ref _lastCommittedOrdering);

    /// <summary>The notifier of the database a connection string opens (one per database and process).</summary>
    public static SqliteJournalNotifications For(string connectionString)
    {
        var key = DatabaseKey(connectionString);
        return ByDatabase.GetOrAdd(key, static k => new SqliteJournalNotifications(k));
    }

    /// <summary>The full path of the database file, so that different spellings of one file share a notifier.</summary>
    internal static string DatabaseKey(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        var source = builder.DataSource;
        if (builder.Mode == SqliteOpenMode.Memory || string.IsNullOrEmpty(source) || source == ":memory:"
            || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
            return "memory-or-uri:" + source;
        return Path.GetFullPath(source);
    }

    /// <summary>
    /// Calls <paramref name="listener"/> after every commit (on the writer's thread: it must return at once and
    /// should not allocate; what it throws is dropped). Dispose the result to stop.
    /// </summary>
    public IDisposable Subscribe(Action listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_lock) _listeners = [.. _listeners, listener];
        return new Subscription(this, listener);
    }

    private void Unsubscribe(Action listener)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_listeners, listener);
            if (index < 0) return;
            var copy = new Action[_listeners.Length - 1];
            Array.Copy(_listeners, 0, copy, 0, index);
            Array.Copy(_listeners, index + 1, copy, index, copy.Length - index);
            _listeners = copy;
        }
    }

    /// <summary>
    /// How many of the newest committed events are kept in memory: a live query of this process that has read up to
    /// just before them reads them from here (the very payload objects that were persisted, so payloads must be
    /// immutable, as Akka.Persistence assumes) instead of querying and deserializing them. A query further behind
    /// reads the table until it reaches them.
    /// </summary>
    public const int RecentCapacity = 4096;

    private readonly RecentEvent[] _recent = new RecentEvent[RecentCapacity];
    private int _recentStart;
    private int _recentCount;

    /// <summary>
    /// The committed events after <paramref name="ordering"/>, in order and without a gap, up to
    /// <paramref name="limit"/>, if the tail holds the event right after it (else false: read the table). An empty
    /// list is never returned: with nothing newer in memory, the table is read.
    /// </summary>
    internal bool TryReadRecent(long ordering, int limit, List<RecentEvent> into)
    {
        lock (_recent)
        {
            if (_recentCount == 0) return false;
            var newest = _recent[(_recentStart + _recentCount - 1) % RecentCapacity].Ordering;
            // Nothing newer in memory: the table decides (a periodic poll; another process may have written).
            if (ordering >= newest) return false;
            // Binary search for ordering + 1 (orderings ascend through the ring).
            int lo = 0, hi = _recentCount - 1, found = -1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >> 1;
                var at = _recent[(_recentStart + mid) % RecentCapacity].Ordering;
                if (at == ordering + 1) { found = mid; break; }
                if (at < ordering + 1) lo = mid + 1; else hi = mid - 1;
            }
            if (found < 0) return false;
            var expected = ordering + 1;
            for (var i = found; i < _recentCount && into.Count < limit; i++)
            {
                var e = _recent[(_recentStart + i) % RecentCapacity];
                // A gap: rows not committed by this process (another writer) or deleted: the table has the truth.
                if (e.Ordering != expected) break;
                into.Add(e);
                expected++;
            }
            return true;
        }
    }

    /// <summary>Empties the tail (events were deleted: the table is the truth again).</summary>
    internal void ForgetRecent()
    {
        lock (_recent)
        {
            Array.Clear(_recent);
            _recentStart = 0;
            _recentCount = 0;
        }
    }

    private void Remember(List<RecentEvent> committed)
    {
        lock (_recent)
        {
            foreach (var e in committed)
            {
                if (e.Event is null) continue;
                if (_recentCount > 0 && e.Ordering <= _recent[(_recentStart + _recentCount - 1) % RecentCapacity].Ordering)
                {
                    // Out of order (a second writer of this file in this process): keep no tail rather than a wrong one.
                    Array.Clear(_recent);
                    _recentStart = 0;
                    _recentCount = 0;
                }
                if (_recentCount == RecentCapacity)
                {
                    _recent[_recentStart] = e;
                    _recentStart = (_recentStart + 1) % RecentCapacity;
                }
                else
                {
                    _recent[(_recentStart + _recentCount) % RecentCapacity] = e;
                    _recentCount++;
                }
            }
        }
    }

    /// <summary>
    /// Called by the writer after each commit, with the events it committed. Never blocks for long (a short lock to
    /// append to the tail), never throws.
    /// </summary>
    internal void Committed(long highestOrdering, List<RecentEvent>? committed = null)
    {
        if (committed is { Count: > 0 })
        {
            try { Remember(committed); }
            catch (Exception) { ForgetRecent(); }
        }

        var last = Volatile.Read(ref _lastCommittedOrdering);
        while (highestOrdering > last)
        {
            var seen = Interlocked.CompareExchange(ref _lastCommittedOrdering, highestOrdering, last);
            if (seen == last) break;
            last = seen;
        }

        var listeners = Volatile.Read(ref _listeners);
        for (var i = 0; i < listeners.Length; i++)
        {
            try { listeners[i](); }
            catch (Exception) { /* a listener's failure is its own: the writer goes on */ }
        }
    }

    private sealed class Subscription(SqliteJournalNotifications owner, Action listener) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) owner.Unsubscribe(listener);
        }
    }
}

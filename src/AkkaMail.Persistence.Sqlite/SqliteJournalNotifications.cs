using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

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
    /// Called by the writer after each commit. Cheap (no allocation: a read of the copy-on-write listener array,
    /// a compare-and-swap), never blocks, never throws.
    /// </summary>
    internal void Committed(long highestOrdering)
    {
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

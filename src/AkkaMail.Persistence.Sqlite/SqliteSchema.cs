using Akka.Persistence;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>The tables of the journal and the snapshot store, and the settings of every connection.</summary>
internal static class SqliteSchema
{
    /// <summary>Quotes a (validated) table name for SQL text.</summary>
    public static string Quote(string identifier) => "\"" + identifier + "\"";

    /// <summary>
    /// The journal and metadata tables. The journal is a rowid table whose rowid is <c>ordering</c>
    /// (AUTOINCREMENT: never reused, even after the newest events are deleted), with a UNIQUE index on
    /// (persistence_id, sequence_nr) for replay and duplicate detection: inserts append to the end of the
    /// table, and payloads (often larger than the ~200 bytes a WITHOUT ROWID b-tree suits) stay out of the index.
    /// <c>tags</c> holds the tags of a <c>Tagged</c> payload as <c>;tag1;tag2;</c> (NULL without tags), so a
    /// tag matches with <c>LIKE '%;tag;%'</c>.
    /// </summary>
    public static string JournalTables(string journalTable, string metadataTable) => $"""
        CREATE TABLE IF NOT EXISTS {Quote(journalTable)} (
          ordering INTEGER PRIMARY KEY AUTOINCREMENT,
          persistence_id TEXT NOT NULL,
          sequence_nr INTEGER NOT NULL,
          timestamp INTEGER NOT NULL,
          manifest TEXT NOT NULL,
          serializer_id INTEGER NOT NULL,
          payload BLOB NOT NULL,
          tags TEXT NULL,
          writer_uuid TEXT NOT NULL,
          UNIQUE (persistence_id, sequence_nr)
        );
        CREATE TABLE IF NOT EXISTS {Quote(metadataTable)} (
          persistence_id TEXT NOT NULL PRIMARY KEY,
          sequence_nr INTEGER NOT NULL
        ) WITHOUT ROWID;
        """;

    /// <summary>The snapshot table; <c>created</c> is the snapshot's UTC timestamp in ticks (exact round trip).</summary>
    public static string SnapshotTable(string snapshotTable) => $"""
        CREATE TABLE IF NOT EXISTS {Quote(snapshotTable)} (
          persistence_id TEXT NOT NULL,
          sequence_nr INTEGER NOT NULL,
          created INTEGER NOT NULL,
          manifest TEXT NOT NULL,
          serializer_id INTEGER NOT NULL,
          payload BLOB NOT NULL,
          PRIMARY KEY (persistence_id, sequence_nr)
        );
        """;

    private static readonly object WalLock = new();
    private static readonly HashSet<string> WalFiles = new(StringComparer.Ordinal);

    /// <summary>
    /// Puts the file in WAL mode (a property of the file) before the journal or the snapshot store touches it,
    /// once per file and process. Both plugins start on the first recovery, each with connections of its own: in
    /// the default rollback mode a reader holding its lock and a writer waiting for it can each be told "busy"
    /// until Microsoft.Data.Sqlite's 30 s timeout (seen: 23-41 s stalls when 500 actors recovered at once).
    /// Under a lock, so that the two plugins do not race each other for the mode change.
    /// </summary>
    public static void EnsureWal(string connectionString)
    {
        var file = new SqliteConnectionStringBuilder(connectionString).DataSource;
        lock (WalLock)
        {
            if (WalFiles.Contains(file)) return;
            using var connection = new SqliteConnection(connectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL;";
            command.ExecuteNonQuery();
            WalFiles.Add(file);
        }
    }

    /// <summary>
    /// Per-connection settings. <c>synchronous=NORMAL</c> in WAL mode syncs the WAL at checkpoints rather than
    /// at every commit: a committed transaction survives a crash of the process (it is in the WAL file, which
    /// the OS writes out), and may only be lost to a power failure or OS crash. FULL would add an fsync per
    /// commit, the dominant cost of a small write.
    /// </summary>
    public static void ApplyConnectionPragmas(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        // secure_delete: deleted events and snapshots (retention, erasure) are overwritten with zeros in the file, not
        // only unlinked from the table.
        command.CommandText = "PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;";
        command.ExecuteNonQuery();
    }

    /// <summary>Opens a pooled connection; one that writes gets the per-connection settings applied.</summary>
    /// <param name="forWriting">False for read-only use (replays, highest sequence numbers): synchronous only
    /// matters to commits, and every new persistent actor reads, so the extra statement is skipped there.</param>
    public static SqliteConnection Open(string connectionString, bool forWriting = true)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            if (forWriting) ApplyConnectionPragmas(connection);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The plugin's health: the circuit breaker's verdict (<paramref name="breaker"/>, Akka's) when it is not
    /// healthy, else one read of the schema on a new connection: the file exists, opens and answers within the call timeout.</summary>
    public static async Task<PersistenceHealthCheckResult> ProbeUnlessBrokenAsync(Task<PersistenceHealthCheckResult> breaker,
        string connectionString, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
        var verdict = await breaker;
        return verdict.Status != PersistenceHealthStatus.Healthy ? verdict : await ProbeAsync(connectionString, callTimeout, cancellationToken);
    }

    private static Task<PersistenceHealthCheckResult> ProbeAsync(string connectionString, TimeSpan callTimeout, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            try
            {
                using var connection = Open(connectionString, forWriting: false);
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_master;";
                command.CommandTimeout = (int)Math.Ceiling(callTimeout.TotalSeconds);
                var tables = command.ExecuteScalar();
                return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy, $"answers ({tables} schema objects)");
            }
            catch (Exception e)
            {
                return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy, $"{e.GetType().Name}: {e.Message}", e);
            }
        }, cancellationToken);
}

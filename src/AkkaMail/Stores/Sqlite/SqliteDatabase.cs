using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>Opens connections to one SQLite file with the settings we rely on.</summary>
public sealed class SqliteDatabase
{
    public SqliteDatabase(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        ConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }
    public string ConnectionString { get; }

    public async Task<SqliteConnection> OpenAsync(CancellationToken ct = default)
    {
        var c = new SqliteConnection(ConnectionString);
        await c.OpenAsync(ct);
        // NORMAL is durable in WAL mode against process crashes; FULL only adds safety against power loss
        // at a large cost per commit. busy_timeout lets writers queue rather than fail. Both stick to the native
        // connection, which the pool hands out again: set them once per native connection, not per open.
        // secure_delete: a deleted row's bytes are overwritten with zeros, so what retention and erasure remove leaves the
        // file, not only the table.
        if (!Configured.TryGetValue(c.Handle!, out _))
        {
            await ExecAsync(c, "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; PRAGMA secure_delete=ON;", ct);
            Configured.AddOrUpdate(c.Handle!, Marker);
        }
        return c;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = new();
    private static readonly object Marker = new();

    /// <summary>WAL lets readers run beside the writer; it is a property of the file, so set once.</summary>
    public static void EnsureWal(string path)
    {
        Hosting.PrivateFiles.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        Hosting.PrivateFiles.EnsureFile(System.IO.Path.GetFullPath(path));
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Copies the write-ahead log into the file and truncates it. With secure_delete, a deleted row is zeroed in the page
    /// written to the log, but the file keeps its old page and the log its earlier frames until a checkpoint: after one,
    /// neither holds the deleted bytes. Waits for readers (busy timeout); false when some still held the log.
    /// </summary>
    /// <summary>
    /// <see cref="CheckpointAsync"/> until one completes: an attempt comes back busy at once when another checkpoint runs
    /// (the journal writer's automatic one) or a reader still holds an older snapshot. At most <paramref name="attempts"/>,
    /// <paramref name="pause"/> apart; false if none completed.
    /// </summary>
    public static async Task<bool> CheckpointFullyAsync(string path, int attempts = 50, TimeSpan? pause = null, CancellationToken ct = default)
    {
        for (var i = 1; ; i++)
        {
            if (await CheckpointAsync(path, ct)) return true;
            if (i >= attempts) return false;
            await Task.Delay(pause ?? TimeSpan.FromMilliseconds(100), ct);
        }
    }

    public static async Task<bool> CheckpointAsync(string path, CancellationToken ct = default)
    {
        if (!File.Exists(path)) return true;
        await using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
        await c.OpenAsync(ct);
        await ExecAsync(c, "PRAGMA busy_timeout=30000;", ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        await using var r = await cmd.ExecuteReaderAsync(ct);
        // (busy, log frames, checkpointed frames): busy = 1 when a reader or writer kept it from completing.
        return await r.ReadAsync(ct) && r.GetInt64(0) == 0;
    }

    public static async Task<bool> HasColumnAsync(SqliteConnection c, string table, string column, CancellationToken ct = default)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = $column;";
        cmd.Parameters.AddWithValue("$column", column);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct)) > 0;
    }

    public static async Task ExecAsync(SqliteConnection c, string sql, CancellationToken ct = default)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

using AkkaMail.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>
/// Retention and erasure count on a checkpoint to take removed bytes out of the SQLite files. One checkpoint attempt
/// comes back busy at once while another connection checkpoints (the journal writer's automatic one runs after a
/// commit); <see cref="SqliteDatabase.CheckpointFullyAsync"/> tries again until one completes. Real files on a temp path.
/// </summary>
public sealed class SqliteCheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "akkamail-checkpoint-" + Guid.NewGuid().ToString("N"));
    private readonly string _path;

    public SqliteCheckpointTests()
    {
        Directory.CreateDirectory(_dir);
        _path = Path.Combine(_dir, "events.db");
    }

    private SqliteConnection Open(int busyTimeoutMs = 0)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false }.ToString());
        c.Open();
        Exec(c, $"PRAGMA journal_mode=WAL; PRAGMA busy_timeout={busyTimeoutMs};");
        return c;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public async Task While_another_connection_checkpoints_one_attempt_is_busy_and_checkpointing_fully_waits_for_it()
    {
        using var writer = Open();
        Exec(writer, "PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('before');");
        // A reader holds the snapshot of the file before the next write...
        using var reader = Open();
        using var read = reader.BeginTransaction(deferred: true);
        using (var cmd = reader.CreateCommand())
        {
            cmd.Transaction = read;
            cmd.CommandText = "SELECT count(*) FROM t";
            cmd.ExecuteScalar();
        }
        Exec(writer, "INSERT INTO t VALUES ('after');");
        // ...so another connection's full checkpoint waits for it, holding the checkpoint lock meanwhile.
        var other = Task.Run(() =>
        {
            using var c = Open(busyTimeoutMs: 5000);
            Exec(c, "PRAGMA wal_checkpoint(TRUNCATE);");
        });
        await Task.Delay(300);

        Assert.False(await SqliteDatabase.CheckpointAsync(_path));           // busy at once: the other one runs
        var fully = SqliteDatabase.CheckpointFullyAsync(_path, attempts: 100, pause: TimeSpan.FromMilliseconds(50));
        await Task.Delay(300);
        Assert.False(fully.IsCompleted);
        read.Commit();                                                        // the reader lets go: both complete
        Assert.True(await fully.WaitAsync(TimeSpan.FromSeconds(20)));
        await other.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, new FileInfo(_path + "-wal").Length);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

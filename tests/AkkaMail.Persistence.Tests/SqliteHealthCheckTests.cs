using Akka.Actor;
using Akka.Persistence;
using AkkaMail.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AkkaMail.Persistence.Tests;

/// <summary>The plugins' health (Akka.Persistence's CheckJournalHealthAsync / CheckSnapshotStoreHealthAsync, which
/// Akka.Persistence.Hosting's health checks call): healthy while the file answers, unhealthy once it no longer does.</summary>
public sealed class SqliteHealthCheckTests : IDisposable
{
    private readonly SqliteDatabaseFixture _db = new();

    [Fact]
    public async Task Journal_and_snapshot_store_are_healthy_while_the_file_answers_and_unhealthy_once_it_is_not_a_database()
    {
        using var system = ActorSystem.Create("sqlite-health", _db.Hocon);
        var persistence = Akka.Persistence.Persistence.Instance.Apply(system);
        var journal = await persistence.CheckJournalHealthAsync(SqlitePersistence.JournalPluginId);
        var snapshots = await persistence.CheckSnapshotStoreHealthAsync(SqlitePersistence.SnapshotStorePluginId);
        Assert.Equal(PersistenceHealthStatus.Healthy, journal.Status);
        Assert.Equal(PersistenceHealthStatus.Healthy, snapshots.Status);

        // The file is replaced by something that is not a SQLite database (new connections see it; pooled ones are dropped).
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "-wal", "-shm" }) File.Delete(_db.Path + suffix);
        await File.WriteAllBytesAsync(_db.Path, Enumerable.Repeat((byte)'x', 8192).ToArray());
        SqliteConnection.ClearAllPools();

        journal = await persistence.CheckJournalHealthAsync(SqlitePersistence.JournalPluginId);
        snapshots = await persistence.CheckSnapshotStoreHealthAsync(SqlitePersistence.SnapshotStorePluginId);
        Assert.Equal(PersistenceHealthStatus.Unhealthy, journal.Status);
        Assert.Equal(PersistenceHealthStatus.Unhealthy, snapshots.Status);
        Assert.Contains("not a database", journal.Description);
    }

    [Fact]
    public void The_hosting_options_write_the_plugins_sections_and_make_them_default()
    {
        var config = SqlitePersistenceConfig.Create("Data Source=x.db", autoInitialize: false);
        Assert.Equal("Data Source=x.db", config.GetString(SqlitePersistence.JournalPluginId + ".connection-string"));
        Assert.Equal("Data Source=x.db", config.GetString(SqlitePersistence.SnapshotStorePluginId + ".connection-string"));
        Assert.False(config.GetBoolean(SqlitePersistence.JournalPluginId + ".auto-initialize"));
        Assert.Equal(SqlitePersistence.JournalPluginId, config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal(SqlitePersistence.SnapshotStorePluginId, config.GetString("akka.persistence.snapshot-store.plugin"));
        // The plugin's own defaults stay underneath (class, dispatcher, timeouts).
        Assert.False(string.IsNullOrEmpty(config.GetString(SqlitePersistence.JournalPluginId + ".class")));
    }

    public void Dispose() => _db.Dispose();
}

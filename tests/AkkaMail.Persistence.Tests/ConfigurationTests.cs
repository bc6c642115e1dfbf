using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using AkkaMail.Persistence.MongoDb;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace AkkaMail.Persistence.Tests;

/// <summary>The plugin's HOCON, settings and hosting registration, without a MongoDB server.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public void Reference_config_declares_both_plugins_with_their_defaults()
    {
        var config = MongoDbPersistence.DefaultConfig();
        var journal = config.GetConfig(MongoDbPersistence.JournalPluginId);
        Assert.Equal("AkkaMail.Persistence.MongoDb.MongoDbJournal, AkkaMail.Persistence.MongoDb", journal.GetString("class"));
        Assert.Equal("akka.persistence.dispatchers.default-plugin-dispatcher", journal.GetString("plugin-dispatcher"));
        Assert.Equal("EventJournal", journal.GetString("journal-collection"));
        Assert.Equal("Metadata", journal.GetString("metadata-collection"));
        Assert.True(journal.GetBoolean("auto-initialize"));
        Assert.False(journal.GetBoolean("use-write-transaction"));
        Assert.Equal(TimeSpan.FromSeconds(10), journal.GetTimeSpan("call-timeout"));

        var snapshots = config.GetConfig(MongoDbPersistence.SnapshotStorePluginId);
        Assert.Equal("AkkaMail.Persistence.MongoDb.MongoDbSnapshotStore, AkkaMail.Persistence.MongoDb", snapshots.GetString("class"));
        Assert.Equal("SnapshotStore", snapshots.GetString("snapshot-collection"));
        Assert.True(snapshots.GetBoolean("auto-initialize"));

        // the classes named there exist
        Assert.Equal(typeof(MongoDbJournal), Type.GetType(journal.GetString("class")));
        Assert.Equal(typeof(MongoDbSnapshotStore), Type.GetType(snapshots.GetString("class")));
    }

    [Fact]
    public void Database_comes_from_the_connection_string_unless_configured()
    {
        var fromUrl = MongoDbJournalSettings.Create(ConfigurationFactory.ParseString(
            "connection-string = \"mongodb://localhost:27017/fromurl?retryWrites=true\""));
        Assert.Equal("fromurl", fromUrl.Database);
        Assert.Equal("EventJournal", fromUrl.JournalCollection);

        var explicitDb = MongoDbSnapshotSettings.Create(ConfigurationFactory.ParseString("""
            connection-string = "mongodb://localhost:27017/fromurl"
            database = explicit
            snapshot-collection = Snaps
            call-timeout = 3s
            """));
        Assert.Equal("explicit", explicitDb.Database);
        Assert.Equal("Snaps", explicitDb.SnapshotCollection);
        Assert.Equal(TimeSpan.FromSeconds(3), explicitDb.CallTimeout);
    }

    [Fact]
    public void Missing_connection_string_or_database_is_a_configuration_error()
    {
        Assert.Throws<ConfigurationException>(() => MongoDbJournalSettings.Create(ConfigurationFactory.Empty));
        Assert.Throws<ConfigurationException>(() => MongoDbJournalSettings.Create(
            ConfigurationFactory.ParseString("connection-string = \"mongodb://localhost:27017\"")));
    }

    [Fact]
    public void Config_from_code_sets_the_plugins_and_escapes_the_connection_string()
    {
        const string cs = "mongodb://user:p\"ss@localhost:27017/?authSource=admin";
        var config = MongoDbPersistenceConfig.Create(cs, "db1", autoInitialize: false, useWriteTransaction: true,
            callTimeout: TimeSpan.FromSeconds(2));

        Assert.Equal(MongoDbPersistence.JournalPluginId, config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal(MongoDbPersistence.SnapshotStorePluginId, config.GetString("akka.persistence.snapshot-store.plugin"));
        var journal = MongoDbJournalSettings.Create(config.GetConfig(MongoDbPersistence.JournalPluginId));
        Assert.Equal(cs, journal.ConnectionString);
        Assert.Equal("db1", journal.Database);
        Assert.False(journal.AutoInitialize);
        Assert.True(journal.UseWriteTransaction);
        Assert.Equal(TimeSpan.FromSeconds(2), journal.CallTimeout);
        var snapshots = MongoDbSnapshotSettings.Create(config.GetConfig(MongoDbPersistence.SnapshotStorePluginId));
        Assert.Equal("db1", snapshots.Database);

        var notDefault = MongoDbPersistenceConfig.Create(cs, "db1", isDefaultPlugin: false);
        Assert.False(notDefault.HasPath("akka.persistence.journal.plugin"));
    }

    [Fact]
    public async Task Hosting_extension_registers_the_plugins_as_defaults()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, NoHostLifetime>();
        services.AddAkka("hosting-test", b => b.WithMongoDbPersistence("mongodb://127.0.0.1:1/hosted"));
        await using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var h in hosted) await h.StartAsync(CancellationToken.None);
        try
        {
            var config = provider.GetRequiredService<ActorSystem>().Settings.Config;
            Assert.Equal(MongoDbPersistence.JournalPluginId, config.GetString("akka.persistence.journal.plugin"));
            Assert.Equal(MongoDbPersistence.SnapshotStorePluginId, config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Equal("mongodb://127.0.0.1:1/hosted", config.GetString("akka.persistence.journal.mongodb.connection-string"));
            Assert.Equal("EventJournal", config.GetString("akka.persistence.journal.mongodb.journal-collection"));
            Assert.Equal("hosted", MongoDbJournalSettings.Create(config.GetConfig(MongoDbPersistence.JournalPluginId)).Database);
        }
        finally
        {
            foreach (var h in hosted) await h.StopAsync(CancellationToken.None);
        }
    }

    private sealed class NoHostLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}

using Akka.Configuration;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>Settings of <see cref="MongoDbJournal"/>, read from its plugin config.</summary>
public sealed record MongoDbJournalSettings(
    string ConnectionString,
    string Database,
    string JournalCollection,
    string MetadataCollection,
    bool AutoInitialize,
    TimeSpan CallTimeout,
    bool UseWriteTransaction,
    bool TrustNewIdRecovery = true)
{
    /// <summary>Reads the settings from the journal's config (with the reference config as fallback).</summary>
    public static MongoDbJournalSettings Create(Config config)
    {
        config = config.WithFallback(MongoDbPersistence.DefaultConfig().GetConfig(MongoDbPersistence.JournalPluginId));
        var connectionString = MongoDbSettingsHelper.RequireConnectionString(config, MongoDbPersistence.JournalPluginId);
        return new MongoDbJournalSettings(
            connectionString,
            MongoDbSettingsHelper.ResolveDatabase(config, connectionString, MongoDbPersistence.JournalPluginId),
            config.GetString("journal-collection", "EventJournal"),
            config.GetString("metadata-collection", "Metadata"),
            config.GetBoolean("auto-initialize", true),
            config.GetTimeSpan("call-timeout", TimeSpan.FromSeconds(10)),
            config.GetBoolean("use-write-transaction", false),
            config.GetBoolean("trust-new-id-recovery", true));
    }
}

/// <summary>Settings of <see cref="MongoDbSnapshotStore"/>, read from its plugin config.</summary>
public sealed record MongoDbSnapshotSettings(
    string ConnectionString,
    string Database,
    string SnapshotCollection,
    bool AutoInitialize,
    TimeSpan CallTimeout)
{
    /// <summary>Reads the settings from the snapshot store's config (with the reference config as fallback).</summary>
    public static MongoDbSnapshotSettings Create(Config config)
    {
        config = config.WithFallback(MongoDbPersistence.DefaultConfig().GetConfig(MongoDbPersistence.SnapshotStorePluginId));
        var connectionString = MongoDbSettingsHelper.RequireConnectionString(config, MongoDbPersistence.SnapshotStorePluginId);
        return new MongoDbSnapshotSettings(
            connectionString,
            MongoDbSettingsHelper.ResolveDatabase(config, connectionString, MongoDbPersistence.SnapshotStorePluginId),
            config.GetString("snapshot-collection", "SnapshotStore"),
            config.GetBoolean("auto-initialize", true),
            config.GetTimeSpan("call-timeout", TimeSpan.FromSeconds(10)));
    }
}

internal static class MongoDbSettingsHelper
{
    public static string RequireConnectionString(Config config, string path)
    {
        var connectionString = config.GetString("connection-string", "");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new ConfigurationException($"{path}.connection-string is not set.");
        return connectionString;
    }

    public static string ResolveDatabase(Config config, string connectionString, string path)
    {
        var database = config.GetString("database", "");
        if (!string.IsNullOrWhiteSpace(database)) return database;
        var fromUrl = MongoUrl.Create(connectionString).DatabaseName;
        if (!string.IsNullOrWhiteSpace(fromUrl)) return fromUrl;
        throw new ConfigurationException(
            $"{path}.database is not set and the connection string names no database.");
    }
}

/// <summary>
/// One <see cref="MongoClient"/> per connection string in the process, as the driver recommends
/// (a client owns the connection pool).
/// </summary>
internal static class MongoClientCache
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<IMongoClient>> Clients = new();

    public static IMongoClient Get(string connectionString) =>
        Clients.GetOrAdd(connectionString, cs => new Lazy<IMongoClient>(() => new MongoClient(cs))).Value;
}

using Akka.Configuration;
using Akka.Hosting;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>Akka.Hosting registration of the MongoDB journal and snapshot store.</summary>
public static class MongoDbPersistenceHostingExtensions
{
    /// <summary>
    /// Adds the MongoDB journal (<c>akka.persistence.journal.mongodb</c>) and snapshot store
    /// (<c>akka.persistence.snapshot-store.mongodb</c>) and, when <paramref name="isDefaultPlugin"/>,
    /// makes them the default plugins.
    /// </summary>
    /// <param name="connectionString">MongoDB connection string.</param>
    /// <param name="database">Database name; null takes it from the connection string.</param>
    /// <param name="autoInitialize">Create the indexes at start.</param>
    /// <param name="isDefaultPlugin">Make them the default journal and snapshot store.</param>
    /// <param name="useWriteTransaction">Write each AtomicWrite in a transaction (needs a replica set).</param>
    /// <param name="callTimeout">Timeout of each database call; null keeps the default (10 s).</param>
    public static AkkaConfigurationBuilder WithMongoDbPersistence(
        this AkkaConfigurationBuilder builder,
        string connectionString,
        string? database = null,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        bool useWriteTransaction = false,
        TimeSpan? callTimeout = null)
    {
        builder.AddHocon(
            MongoDbPersistenceConfig.Create(connectionString, database, autoInitialize, isDefaultPlugin, useWriteTransaction, callTimeout),
            HoconAddMode.Prepend);
        builder.AddHocon(MongoDbPersistence.DefaultConfig(), HoconAddMode.Append);
        return builder;
    }
}

/// <summary>Builds the HOCON of the plugins from code (used by the hosting extension).</summary>
public static class MongoDbPersistenceConfig
{
    public static Config Create(
        string connectionString,
        string? database = null,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        bool useWriteTransaction = false,
        TimeSpan? callTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        var timeout = callTimeout is { } t ? $"call-timeout = {(long)t.TotalMilliseconds}ms" : "";
        var common = $"""
            connection-string = {Q(connectionString)}
            database = {Q(database ?? "")}
            auto-initialize = {(autoInitialize ? "on" : "off")}
            {timeout}
            """;
        var defaults = isDefaultPlugin
            ? $"""
              akka.persistence.journal.plugin = "{MongoDbPersistence.JournalPluginId}"
              akka.persistence.snapshot-store.plugin = "{MongoDbPersistence.SnapshotStorePluginId}"
              """
            : "";
        var hocon = $$"""
            {{defaults}}
            {{MongoDbPersistence.JournalPluginId}} {
              {{common}}
              use-write-transaction = {{(useWriteTransaction ? "on" : "off")}}
            }
            {{MongoDbPersistence.SnapshotStorePluginId}} {
              {{common}}
            }
            """;
        return ConfigurationFactory.ParseString(hocon).WithFallback(MongoDbPersistence.DefaultConfig());
    }
}

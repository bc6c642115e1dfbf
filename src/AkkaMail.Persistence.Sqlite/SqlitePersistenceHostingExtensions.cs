using Akka.Configuration;
using Akka.Hosting;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>Akka.Hosting registration of the SQLite journal and snapshot store.</summary>
public static class SqlitePersistenceHostingExtensions
{
    /// <summary>
    /// Adds the SQLite journal (<c>akka.persistence.journal.sqlite</c>) and snapshot store
    /// (<c>akka.persistence.snapshot-store.sqlite</c>) on one database file and, when
    /// <paramref name="isDefaultPlugin"/>, makes them the default plugins.
    /// </summary>
    /// <param name="connectionString">Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=data/journal.db</c>.</param>
    /// <param name="autoInitialize">Create the tables at start.</param>
    /// <param name="isDefaultPlugin">Make them the default journal and snapshot store.</param>
    public static AkkaConfigurationBuilder WithSqliteJournal(
        this AkkaConfigurationBuilder builder,
        string connectionString,
        bool autoInitialize = true,
        bool isDefaultPlugin = true)
    {
        builder.AddHocon(SqlitePersistenceConfig.Create(connectionString, autoInitialize, isDefaultPlugin), HoconAddMode.Prepend);
        builder.AddHocon(SqlitePersistence.DefaultConfig(), HoconAddMode.Append);
        return builder;
    }
}

/// <summary>Builds the HOCON of the plugins from code (used by the hosting extension).</summary>
public static class SqlitePersistenceConfig
{
    public static Config Create(string connectionString, bool autoInitialize = true, bool isDefaultPlugin = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        var common = $"""
            connection-string = {Q(connectionString)}
            auto-initialize = {(autoInitialize ? "on" : "off")}
            """;
        var defaults = isDefaultPlugin
            ? $"""
              akka.persistence.journal.plugin = "{SqlitePersistence.JournalPluginId}"
              akka.persistence.snapshot-store.plugin = "{SqlitePersistence.SnapshotStorePluginId}"
              """
            : "";
        var hocon = $$"""
            {{defaults}}
            {{SqlitePersistence.JournalPluginId}} {
              {{common}}
            }
            {{SqlitePersistence.SnapshotStorePluginId}} {
              {{common}}
            }
            """;
        return ConfigurationFactory.ParseString(hocon).WithFallback(SqlitePersistence.DefaultConfig());
    }
}

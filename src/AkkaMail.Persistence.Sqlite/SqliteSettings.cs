using Akka.Configuration;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>Settings of <see cref="SqliteJournal"/>, read from its plugin config.</summary>
public sealed record SqliteJournalSettings(
    string ConnectionString,
    bool AutoInitialize,
    string TableName,
    string MetadataTableName,
    TimeSpan CallTimeout,
    int MaxBatchSize,
    bool TrustNewIdRecovery = true)
{
    /// <summary>Reads the settings from the journal's config (with the reference config as fallback).</summary>
    public static SqliteJournalSettings Create(Config config)
    {
        config = config.WithFallback(SqlitePersistence.DefaultConfig().GetConfig(SqlitePersistence.JournalPluginId));
        var path = SqlitePersistence.JournalPluginId;
        var maxBatchSize = config.GetInt("max-batch-size", 500);
        if (maxBatchSize < 1) throw new ConfigurationException($"{path}.max-batch-size must be at least 1.");
        return new SqliteJournalSettings(
            SqliteSettingsHelper.PooledConnectionString(config, path),
            config.GetBoolean("auto-initialize", true),
            SqliteSettingsHelper.TableName(config, "table-name", "journal", path),
            SqliteSettingsHelper.TableName(config, "metadata-table-name", "metadata", path),
            config.GetTimeSpan("call-timeout", TimeSpan.FromSeconds(10)),
            maxBatchSize,
            config.GetBoolean("trust-new-id-recovery", true));
    }
}

/// <summary>Settings of <see cref="SqliteSnapshotStore"/>, read from its plugin config.</summary>
public sealed record SqliteSnapshotSettings(
    string ConnectionString,
    bool AutoInitialize,
    string TableName,
    TimeSpan CallTimeout)
{
    /// <summary>Reads the settings from the snapshot store's config (with the reference config as fallback).</summary>
    public static SqliteSnapshotSettings Create(Config config)
    {
        config = config.WithFallback(SqlitePersistence.DefaultConfig().GetConfig(SqlitePersistence.SnapshotStorePluginId));
        var path = SqlitePersistence.SnapshotStorePluginId;
        return new SqliteSnapshotSettings(
            SqliteSettingsHelper.PooledConnectionString(config, path),
            config.GetBoolean("auto-initialize", true),
            SqliteSettingsHelper.TableName(config, "table-name", "snapshot", path),
            config.GetTimeSpan("call-timeout", TimeSpan.FromSeconds(10)));
    }
}

internal static class SqliteSettingsHelper
{
    /// <summary>The configured connection string with pooling forced on (reads open a connection each).</summary>
    public static string PooledConnectionString(Config config, string path)
    {
        var connectionString = config.GetString("connection-string", "");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new ConfigurationException($"{path}.connection-string is not set.");
        try
        {
            return new SqliteConnectionStringBuilder(connectionString) { Pooling = true }.ToString();
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException($"{path}.connection-string is not valid: {e.Message}");
        }
    }

    /// <summary>
    /// A table name from the config. Names are spliced into SQL text (SQLite cannot bind identifiers),
    /// so only plain identifiers are accepted.
    /// </summary>
    public static string TableName(Config config, string key, string fallback, string path)
    {
        var name = config.GetString(key, fallback);
        var valid = name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_');
        foreach (var c in name)
            valid &= char.IsAsciiLetterOrDigit(c) || c == '_';
        if (!valid)
            throw new ConfigurationException($"{path}.{key} = '{name}' is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*).");
        return name;
    }
}

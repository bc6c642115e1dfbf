using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>The SQLite journal's settings for Akka.Persistence.Hosting (<c>akka.persistence.journal.sqlite</c>).</summary>
public sealed class SqliteJournalOptions(bool isDefaultPlugin = true, string identifier = "sqlite") : JournalOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = identifier;

    /// <summary>Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=data/journal.db</c>.</summary>
    public string ConnectionString { get; set; } = "";

    protected override Config InternalDefaultConfig => SqlitePersistence.DefaultConfig().GetConfig(SqlitePersistence.JournalPluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ConnectionString);
        sb.AppendLine($"connection-string = {ConnectionString.ToHocon()}");
        return base.Build(sb);
    }
}

/// <summary>The SQLite snapshot store's settings for Akka.Persistence.Hosting (<c>akka.persistence.snapshot-store.sqlite</c>).</summary>
public sealed class SqliteSnapshotOptions(bool isDefaultPlugin = true, string identifier = "sqlite") : SnapshotOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = identifier;

    /// <summary>Microsoft.Data.Sqlite connection string; usually the journal's file.</summary>
    public string ConnectionString { get; set; } = "";

    protected override Config InternalDefaultConfig => SqlitePersistence.DefaultConfig().GetConfig(SqlitePersistence.SnapshotStorePluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ConnectionString);
        sb.AppendLine($"connection-string = {ConnectionString.ToHocon()}");
        return base.Build(sb);
    }
}

/// <summary>Akka.Hosting registration of the SQLite journal and snapshot store.</summary>
public static class SqlitePersistenceHostingExtensions
{
    /// <summary>
    /// Adds the SQLite journal (<c>akka.persistence.journal.sqlite</c>) and snapshot store
    /// (<c>akka.persistence.snapshot-store.sqlite</c>) on one database file, plus the query journal's defaults, and, when
    /// <paramref name="isDefaultPlugin"/>, makes them the default plugins. <paramref name="journal"/> and
    /// <paramref name="snapshot"/> add event adapters or health checks (Akka.Persistence.Hosting's builders).
    /// </summary>
    /// <param name="connectionString">Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=data/journal.db</c>.</param>
    /// <param name="autoInitialize">Create the tables at start.</param>
    /// <param name="isDefaultPlugin">Make them the default journal and snapshot store.</param>
    public static AkkaConfigurationBuilder WithSqliteJournal(
        this AkkaConfigurationBuilder builder,
        string connectionString,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        Action<AkkaPersistenceJournalBuilder>? journal = null,
        Action<AkkaPersistenceSnapshotBuilder>? snapshot = null)
    {
        var (journalOptions, snapshotOptions) = SqlitePersistenceConfig.Options(connectionString, autoInitialize, isDefaultPlugin);
        builder.WithJournalAndSnapshot(journalOptions, snapshotOptions, journal ?? (_ => { }), snapshot ?? (_ => { }));
        // The query journal's section (akka.persistence.query.journal.sqlite) and the rest of the reference.
        builder.AddHocon(SqlitePersistence.DefaultConfig(), HoconAddMode.Append);
        return builder;
    }
}

/// <summary>The plugins' HOCON from code, for actor systems built without Akka.Hosting (tests, tools).</summary>
public static class SqlitePersistenceConfig
{
    public static (SqliteJournalOptions Journal, SqliteSnapshotOptions Snapshot) Options(
        string connectionString, bool autoInitialize = true, bool isDefaultPlugin = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return (new SqliteJournalOptions(isDefaultPlugin) { ConnectionString = connectionString, AutoInitialize = autoInitialize },
            new SqliteSnapshotOptions(isDefaultPlugin) { ConnectionString = connectionString, AutoInitialize = autoInitialize });
    }

    public static Config Create(string connectionString, bool autoInitialize = true, bool isDefaultPlugin = true)
    {
        var (journal, snapshot) = Options(connectionString, autoInitialize, isDefaultPlugin);
        return journal.ToConfig().WithFallback(snapshot.ToConfig()).WithFallback(SqlitePersistence.DefaultConfig());
    }
}

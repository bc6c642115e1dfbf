using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace AkkaMail.Persistence.Postgres;

/// <summary>The PostgreSQL journal's settings for Akka.Persistence.Hosting (<c>akka.persistence.journal.sql</c>).</summary>
public sealed class PostgresJournalOptions(bool isDefaultPlugin = true) : JournalOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = "sql";

    /// <summary>Npgsql connection string, e.g. <c>Host=db;Username=akkamail;Password=...;Database=akkamail</c>.</summary>
    public string ConnectionString { get; set; } = "";

    protected override Config InternalDefaultConfig => PostgresPersistence.DefaultConfig().GetConfig(PostgresPersistence.JournalPluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ConnectionString);
        sb.AppendLine($"connection-string = {ConnectionString.ToHocon()}");
        return base.Build(sb);
    }
}

/// <summary>The PostgreSQL snapshot store's settings for Akka.Persistence.Hosting (<c>akka.persistence.snapshot-store.sql</c>).</summary>
public sealed class PostgresSnapshotOptions(bool isDefaultPlugin = true) : SnapshotOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = "sql";

    /// <summary>Npgsql connection string; usually the journal's.</summary>
    public string ConnectionString { get; set; } = "";

    protected override Config InternalDefaultConfig => PostgresPersistence.DefaultConfig().GetConfig(PostgresPersistence.SnapshotStorePluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ConnectionString);
        sb.AppendLine($"connection-string = {ConnectionString.ToHocon()}");
        return base.Build(sb);
    }
}

/// <summary>Akka.Hosting registration of the PostgreSQL journal, snapshot store and query journal.</summary>
public static class PostgresPersistenceHostingExtensions
{
    /// <summary>
    /// Adds the journal (<c>akka.persistence.journal.sql</c>), the snapshot store (<c>akka.persistence.snapshot-store.sql</c>)
    /// and the query journal (<c>akka.persistence.query.journal.sql</c>) on one PostgreSQL database, and, when
    /// <paramref name="isDefaultPlugin"/>, makes them the default plugins. <paramref name="journal"/> and
    /// <paramref name="snapshot"/> add event adapters or health checks (Akka.Persistence.Hosting's builders).
    /// </summary>
    public static AkkaConfigurationBuilder WithPostgresPersistence(
        this AkkaConfigurationBuilder builder,
        string connectionString,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        Action<AkkaPersistenceJournalBuilder>? journal = null,
        Action<AkkaPersistenceSnapshotBuilder>? snapshot = null)
    {
        var (journalOptions, snapshotOptions) = PostgresPersistenceConfig.Options(connectionString, autoInitialize, isDefaultPlugin);
        builder.WithJournalAndSnapshot(journalOptions, snapshotOptions, journal ?? (_ => { }), snapshot ?? (_ => { }));
        builder.AddHocon(PostgresPersistenceConfig.QueryAndStartup(connectionString, isDefaultPlugin), HoconAddMode.Prepend);
        // The query journal's section and the rest of Akka.Persistence.Sql's reference.
        builder.AddHocon(PostgresPersistence.DefaultConfig(), HoconAddMode.Append);
        return builder;
    }
}

/// <summary>The plugins' HOCON from code, for actor systems built without Akka.Hosting (tests, tools).</summary>
public static class PostgresPersistenceConfig
{
    public static (PostgresJournalOptions Journal, PostgresSnapshotOptions Snapshot) Options(
        string connectionString, bool autoInitialize = true, bool isDefaultPlugin = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return (new PostgresJournalOptions(isDefaultPlugin) { ConnectionString = connectionString, AutoInitialize = autoInitialize },
            new PostgresSnapshotOptions(isDefaultPlugin) { ConnectionString = connectionString, AutoInitialize = autoInitialize });
    }

    /// <summary>
    /// The query journal's connection string and, for the default plugins, their start with the actor system: the
    /// journal creates its tables at start, before a live query's first poll (which would otherwise fail on a missing
    /// table and back off) and before the first persist has to wait for it.
    /// </summary>
    public static Config QueryAndStartup(string connectionString, bool isDefaultPlugin = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var hocon = $"{PostgresPersistence.QueryJournalPluginId}.connection-string = {connectionString.ToHocon()}\n";
        if (isDefaultPlugin)
            hocon += $"""
                akka.persistence.journal.auto-start-journals = ["{PostgresPersistence.JournalPluginId}"]
                akka.persistence.snapshot-store.auto-start-snapshot-stores = ["{PostgresPersistence.SnapshotStorePluginId}"]
                """;
        return ConfigurationFactory.ParseString(hocon);
    }

    public static Config Create(string connectionString, bool autoInitialize = true, bool isDefaultPlugin = true)
    {
        var (journal, snapshot) = Options(connectionString, autoInitialize, isDefaultPlugin);
        return QueryAndStartup(connectionString, isDefaultPlugin)
            .WithFallback(journal.ToConfig())
            .WithFallback(snapshot.ToConfig())
            .WithFallback(PostgresPersistence.DefaultConfig());
    }
}

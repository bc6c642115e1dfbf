using System.Text;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Hosting;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>The MongoDB journal's settings for Akka.Persistence.Hosting (<c>akka.persistence.journal.mongodb</c>).</summary>
public sealed class MongoDbJournalOptions(bool isDefaultPlugin = true, string identifier = "mongodb") : JournalOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = identifier;

    public string ConnectionString { get; set; } = "";

    /// <summary>Database name; null takes it from the connection string.</summary>
    public string? Database { get; set; }

    /// <summary>Write each AtomicWrite in a transaction (needs a replica set).</summary>
    public bool UseWriteTransaction { get; set; }

    /// <summary>Timeout of each database call; null keeps the default (10 s).</summary>
    public TimeSpan? CallTimeout { get; set; }

    protected override Config InternalDefaultConfig => MongoDbPersistence.DefaultConfig().GetConfig(MongoDbPersistence.JournalPluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        MongoDbPluginHocon.Append(sb, ConnectionString, Database, CallTimeout);
        sb.AppendLine($"use-write-transaction = {UseWriteTransaction.ToHocon()}");
        return base.Build(sb);
    }
}

/// <summary>The MongoDB snapshot store's settings for Akka.Persistence.Hosting (<c>akka.persistence.snapshot-store.mongodb</c>).</summary>
public sealed class MongoDbSnapshotOptions(bool isDefaultPlugin = true, string identifier = "mongodb") : SnapshotOptions(isDefaultPlugin)
{
    public override string Identifier { get; set; } = identifier;

    public string ConnectionString { get; set; } = "";

    /// <summary>Database name; null takes it from the connection string.</summary>
    public string? Database { get; set; }

    /// <summary>Timeout of each database call; null keeps the default (10 s).</summary>
    public TimeSpan? CallTimeout { get; set; }

    protected override Config InternalDefaultConfig => MongoDbPersistence.DefaultConfig().GetConfig(MongoDbPersistence.SnapshotStorePluginId);

    protected override StringBuilder Build(StringBuilder sb)
    {
        MongoDbPluginHocon.Append(sb, ConnectionString, Database, CallTimeout);
        return base.Build(sb);
    }
}

/// <summary>The settings the journal and the snapshot store share.</summary>
internal static class MongoDbPluginHocon
{
    public static void Append(StringBuilder sb, string connectionString, string? database, TimeSpan? callTimeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        sb.AppendLine($"connection-string = {connectionString.ToHocon()}");
        sb.AppendLine($"database = {(database ?? "").ToHocon()}");
        if (callTimeout is { } t) sb.AppendLine($"call-timeout = {(long)t.TotalMilliseconds}ms");
    }
}

/// <summary>Akka.Hosting registration of the MongoDB journal and snapshot store.</summary>
public static class MongoDbPersistenceHostingExtensions
{
    /// <summary>
    /// Adds the MongoDB journal (<c>akka.persistence.journal.mongodb</c>) and snapshot store
    /// (<c>akka.persistence.snapshot-store.mongodb</c>), plus the query journal's defaults, and, when
    /// <paramref name="isDefaultPlugin"/>, makes them the default plugins. <paramref name="journal"/> and
    /// <paramref name="snapshot"/> add event adapters or health checks (Akka.Persistence.Hosting's builders).
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
        TimeSpan? callTimeout = null,
        Action<AkkaPersistenceJournalBuilder>? journal = null,
        Action<AkkaPersistenceSnapshotBuilder>? snapshot = null)
    {
        var (journalOptions, snapshotOptions) = MongoDbPersistenceConfig.Options(
            connectionString, database, autoInitialize, isDefaultPlugin, useWriteTransaction, callTimeout);
        builder.WithJournalAndSnapshot(journalOptions, snapshotOptions, journal ?? (_ => { }), snapshot ?? (_ => { }));
        // The query journal's section (akka.persistence.query.journal.mongodb) and the rest of the reference.
        builder.AddHocon(MongoDbPersistence.DefaultConfig(), HoconAddMode.Append);
        return builder;
    }
}

/// <summary>The plugins' HOCON from code, for actor systems built without Akka.Hosting (tests, tools).</summary>
public static class MongoDbPersistenceConfig
{
    public static (MongoDbJournalOptions Journal, MongoDbSnapshotOptions Snapshot) Options(
        string connectionString,
        string? database = null,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        bool useWriteTransaction = false,
        TimeSpan? callTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return (new MongoDbJournalOptions(isDefaultPlugin)
            {
                ConnectionString = connectionString, Database = database, AutoInitialize = autoInitialize,
                UseWriteTransaction = useWriteTransaction, CallTimeout = callTimeout,
            },
            new MongoDbSnapshotOptions(isDefaultPlugin)
            {
                ConnectionString = connectionString, Database = database, AutoInitialize = autoInitialize, CallTimeout = callTimeout,
            });
    }

    public static Config Create(
        string connectionString,
        string? database = null,
        bool autoInitialize = true,
        bool isDefaultPlugin = true,
        bool useWriteTransaction = false,
        TimeSpan? callTimeout = null)
    {
        var (journal, snapshot) = Options(connectionString, database, autoInitialize, isDefaultPlugin, useWriteTransaction, callTimeout);
        return journal.ToConfig().WithFallback(snapshot.ToConfig()).WithFallback(MongoDbPersistence.DefaultConfig());
    }
}

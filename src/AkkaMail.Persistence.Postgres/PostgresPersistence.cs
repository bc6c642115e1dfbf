using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Query;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Query;

namespace AkkaMail.Persistence.Postgres;

/// <summary>Entry point of the plugin's configuration: Akka.Persistence.Sql on PostgreSQL, with our additions.</summary>
public static class PostgresPersistence
{
    /// <summary>HOCON path of the journal plugin (Akka.Persistence.Sql's own id).</summary>
    public const string JournalPluginId = "akka.persistence.journal.sql";

    /// <summary>HOCON path of the snapshot store plugin.</summary>
    public const string SnapshotStorePluginId = "akka.persistence.snapshot-store.sql";

    /// <summary>HOCON path of the query journal (<see cref="ReadJournal"/>).</summary>
    public const string QueryJournalPluginId = "akka.persistence.query.journal.sql";

    /// <summary>
    /// Akka.Persistence.Sql's read journal of <paramref name="system"/>: AllEvents, CurrentAllEvents, EventsByTag,
    /// EventsByPersistenceId, PersistenceIds and their current variants (cast to the query interfaces). Offsets are
    /// the journal's orderings, exclusive.
    /// </summary>
    /// <remarks>The plugin's read journal, when first made, waits for its journal to have initialized, and fails after
    /// 5 s: the journal's first start (its tables, linq2db's first queries) takes longer on a busy machine. So this waits
    /// for the journal first, up to <paramref name="journalStartTimeout"/> (default 60 s), blocking the caller as the
    /// plugin does.</remarks>
    public static IReadJournal ReadJournal(ActorSystem system, TimeSpan? journalStartTimeout = null)
    {
        var journal = Akka.Persistence.Persistence.Instance.Apply(system).JournalFor(JournalPluginId);
        journal.Ask<Done>(PostgresJournal.AwaitInitialization.Instance, journalStartTimeout ?? TimeSpan.FromSeconds(60))
            .GetAwaiter().GetResult();
        return PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(QueryJournalPluginId);
    }

    private static readonly Lazy<Config> Reference = new(LoadReference);

    /// <summary>Our reference configuration (the embedded <c>reference.conf</c>) over Akka.Persistence.Sql's defaults.
    /// Always falls back to the plugin's defaults: without them its classes and table mappings are missing.</summary>
    public static Config DefaultConfig() => Reference.Value;

    private static Config LoadReference()
    {
        var assembly = typeof(PostgresPersistence).Assembly;
        using var stream = assembly.GetManifestResourceStream("AkkaMail.Persistence.Postgres.reference.conf")
            ?? throw new InvalidOperationException("Embedded reference.conf of AkkaMail.Persistence.Postgres not found.");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd()).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>The connection string of a plugin section (the journal's, the snapshot store's or the query journal's).</summary>
    internal static string ConnectionString(Config pluginConfig) =>
        pluginConfig.GetString("connection-string", "") is { Length: > 0 } cs
            ? cs
            : throw new ConfigurationException("connection-string is required (an Npgsql connection string).");
}

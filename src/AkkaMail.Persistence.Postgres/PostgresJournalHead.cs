using Akka.Actor;
using Akka.Configuration;
using Npgsql;

namespace AkkaMail.Persistence.Postgres;

/// <summary>
/// What the query journal does not say about the journal's head: its highest ordering and when the event after a given
/// ordering was written, for a read side that measures how far behind it is. Reads the journal plugin's table (its
/// table mapping: schema, table and column names) with plain SQL; deleted events, which no query returns, are left out.
/// </summary>
public sealed class PostgresJournalHead
{
    private readonly string _connectionString;
    private readonly string _highestSql;
    private readonly string _createdAfterSql;

    public PostgresJournalHead(Config journalConfig)
    {
        var journal = JournalTableMapping.Of(journalConfig);
        _connectionString = journal.ConnectionString;
        var ordering = journal.Column("ordering");
        var deleted = journal.Column("deleted");
        var created = journal.Column("created");
        _highestSql = $"SELECT COALESCE(MAX({ordering}), 0) FROM {journal.Table} WHERE NOT {deleted}";
        _createdAfterSql = $"SELECT {created} FROM {journal.Table} WHERE {ordering} > $1 AND NOT {deleted} ORDER BY {ordering} LIMIT 1";
    }

    /// <summary>The head of the journal of <paramref name="system"/>'s <c>akka.persistence.journal.sql</c>.</summary>
    public static PostgresJournalHead For(ActorSystem system) =>
        new(system.Settings.Config.GetConfig(PostgresPersistence.JournalPluginId));

    /// <summary>The highest ordering of an event not deleted; 0 for an empty journal.</summary>
    public async Task<long> HighestOrderingAsync(CancellationToken ct = default)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(_highestSql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
    }

    /// <summary>When the first event after <paramref name="ordering"/> was written (UTC ticks, as the plugin stores
    /// it), or null when there is none.</summary>
    public async Task<long?> TimestampAfterAsync(long ordering, CancellationToken ct = default)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(_createdAfterSql, connection) { Parameters = { new() { Value = ordering } } };
        return await command.ExecuteScalarAsync(ct) is long ticks ? ticks : null;
    }
}

/// <summary>
/// Forgets a persistence id's deleted events for good. The plugin deletes events physically except the highest of each
/// persistence id, which it keeps marked deleted so that the id's sequence number survives; for an id whose every event
/// was deleted to forget it (its data must not stay), that row goes too, and the id starts again from 1 if it is ever
/// written again. Plain SQL on the plugin's table mapping, as <see cref="PostgresJournalHead"/>.
/// </summary>
public sealed class PostgresJournalPurge
{
    private readonly string _connectionString;
    private readonly string _purgeSql;

    public PostgresJournalPurge(Config journalConfig)
    {
        var journal = JournalTableMapping.Of(journalConfig);
        _connectionString = journal.ConnectionString;
        _purgeSql = $"DELETE FROM {journal.Table} WHERE {journal.Column("persistence-id")} = $1 AND {journal.Column("deleted")}";
    }

    public static PostgresJournalPurge For(ActorSystem system) =>
        new(system.Settings.Config.GetConfig(PostgresPersistence.JournalPluginId));

    /// <summary>Removes the rows of <paramref name="persistenceId"/> marked deleted; the count removed.</summary>
    public async Task<int> ForgetDeletedAsync(string persistenceId, CancellationToken ct = default)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(_purgeSql, connection) { Parameters = { new() { Value = persistenceId } } };
        return await command.ExecuteNonQueryAsync(ct);
    }
}

/// <summary>
/// The journal plugin's table as its configuration names it (the table mapping: schema, table and column names), for
/// plain SQL beside the plugin; identifiers quoted.
/// </summary>
internal sealed class JournalTableMapping
{
    private readonly Config _columns;

    private JournalTableMapping(string connectionString, string table, Config columns)
    {
        ConnectionString = connectionString;
        Table = table;
        _columns = columns;
    }

    public string ConnectionString { get; }

    /// <summary>The journal table, schema-qualified when the mapping names a schema.</summary>
    public string Table { get; }

    /// <summary>The quoted name of the column the mapping calls <paramref name="key"/> (e.g. <c>ordering</c>).</summary>
    public string Column(string key) => Quote(_columns.GetString(key));

    public static JournalTableMapping Of(Config journalConfig)
    {
        var config = journalConfig.WithFallback(PostgresPersistence.DefaultConfig().GetConfig(PostgresPersistence.JournalPluginId));
        var mapping = config.GetConfig(config.GetString("table-mapping", "default"));
        var schema = mapping.GetString("schema-name", null);
        var journal = mapping.GetConfig("journal");
        var table = (string.IsNullOrWhiteSpace(schema) ? "" : Quote(schema) + ".") + Quote(journal.GetString("table-name"));
        return new JournalTableMapping(PostgresPersistence.ConnectionString(config), table, journal.GetConfig("columns"));
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}

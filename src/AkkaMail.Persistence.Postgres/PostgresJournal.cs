using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql.Journal;

namespace AkkaMail.Persistence.Postgres;

/// <summary>
/// Akka.Persistence.Sql's journal on PostgreSQL, with two additions: a recovery that declares its persistence id new
/// (<see cref="NewIdRecovery"/>, setting <c>trust-new-id-recovery</c>) is answered without a read, and the health
/// check asks the server. Reads, writes, deletes and the schema are the plugin's.
/// </summary>
/// <remarks>
/// The plugin waits for the id's writes still in flight before reading its highest sequence number; a declared-new id
/// skips that too. Nothing can be in flight for an id minted just now, and if the declaration was wrong its first
/// write collides with the existing sequence number 1 on the journal's primary key: refused, nothing overwritten.
/// </remarks>
public class PostgresJournal : SqlWriteJournal
{
    private readonly bool _trustNewIdRecovery;
    private readonly string _connectionString;
    private readonly TimeSpan _healthCheckTimeout;
    private readonly ActorCell _cell;

    public PostgresJournal(Config journalConfig) : base(journalConfig)
    {
        var config = journalConfig.WithFallback(PostgresPersistence.DefaultConfig().GetConfig(PostgresPersistence.JournalPluginId));
        _trustNewIdRecovery = config.GetBoolean("trust-new-id-recovery", false);
        _healthCheckTimeout = config.GetTimeSpan("health-check-timeout", TimeSpan.FromSeconds(3));
        _connectionString = PostgresPersistence.ConnectionString(config);
        _cell = (ActorCell)Context;
    }

    /// <summary>Answered with <see cref="Done"/> once the journal has initialized (its tables created): the plugin holds
    /// every message back until then.</summary>
    public sealed class AwaitInitialization
    {
        public static readonly AwaitInitialization Instance = new();
        private AwaitInitialization() { }
    }

    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not AwaitInitialization) return base.ReceivePluginInternal(message);
        Sender.Tell(Done.Instance);
        return true;
    }

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken) =>
        _trustNewIdRecovery && NewIdRecovery.IsDeclaredNew(_cell, persistenceId)
            ? NewIdRecovery.HighestOfNewId
            : base.ReadHighestSequenceNrAsync(persistenceId, fromSequenceNr, cancellationToken);

    /// <summary>Healthy while the circuit breaker is closed and the server answers.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        PostgresProbe.ProbeUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _connectionString, _healthCheckTimeout, cancellationToken);
}

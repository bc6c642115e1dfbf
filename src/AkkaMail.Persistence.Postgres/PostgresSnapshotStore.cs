using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql.Snapshot;

namespace AkkaMail.Persistence.Postgres;

/// <summary>Akka.Persistence.Sql's snapshot store on PostgreSQL, whose health check asks the server.</summary>
public class PostgresSnapshotStore : SqlSnapshotStore
{
    private readonly string _connectionString;
    private readonly TimeSpan _healthCheckTimeout;

    public PostgresSnapshotStore(Config snapshotConfig) : base(snapshotConfig)
    {
        var config = snapshotConfig.WithFallback(PostgresPersistence.DefaultConfig().GetConfig(PostgresPersistence.SnapshotStorePluginId));
        _healthCheckTimeout = config.GetTimeSpan("health-check-timeout", TimeSpan.FromSeconds(3));
        _connectionString = PostgresPersistence.ConnectionString(config);
    }

    /// <summary>Healthy while the circuit breaker is closed and the server answers.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        PostgresProbe.ProbeUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _connectionString, _healthCheckTimeout, cancellationToken);
}

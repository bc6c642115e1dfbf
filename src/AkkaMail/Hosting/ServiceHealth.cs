using Akka.Persistence.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkkaMail.Hosting;

/// <summary>The health checks' tags and the persistence plugins' checks: /health/live runs the <see cref="Live"/> ones,
/// /health/ready the <see cref="Ready"/> ones.</summary>
public static class ServiceHealth
{
    public const string Live = "live";
    public const string Ready = "ready";
    public static readonly string[] Readiness = [Ready];
    public static readonly string[] Liveness = [Live, Ready];

    /// <summary>The journal's own check (Akka.Persistence.Hosting), named <c>journal</c>: part of readiness.</summary>
    public static void JournalCheck(AkkaPersistenceJournalBuilder journal) =>
        journal.WithHealthCheck(HealthStatus.Unhealthy, "journal", Readiness);

    /// <summary>The snapshot store's own check, named <c>snapshot-store</c>: part of readiness.</summary>
    public static void SnapshotStoreCheck(AkkaPersistenceSnapshotBuilder snapshots) =>
        snapshots.WithHealthCheck(HealthStatus.Unhealthy, "snapshot-store", Readiness);
}

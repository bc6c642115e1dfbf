namespace AkkaMail.Hosting;

/// <summary>The health checks' names and tags: /health/live runs the <see cref="Live"/> ones, /health/ready the <see cref="Ready"/> ones.</summary>
public static class HealthTags
{
    public const string Live = "live";
    public const string Ready = "ready";
    public static readonly string[] Readiness = [Ready];
    public static readonly string[] Liveness = [Live, Ready];

    public const string JournalCheck = "journal";
    public const string SnapshotStoreCheck = "snapshot-store";
}

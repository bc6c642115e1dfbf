using Akka.Persistence;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>The health probe of the journal and the snapshot store: the circuit breaker's verdict (Akka's) when it is
/// not healthy, else whether the database answers a ping within the call timeout.</summary>
internal static class MongoDbProbe
{
    public static async Task<PersistenceHealthCheckResult> PingUnlessBrokenAsync(Task<PersistenceHealthCheckResult> breaker,
        IMongoDatabase database, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
        var verdict = await breaker.ConfigureAwait(false);
        if (verdict.Status != PersistenceHealthStatus.Healthy) return verdict;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(callTimeout);
        try
        {
            await database.RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: cts.Token).ConfigureAwait(false);
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy, "answers");
        }
        catch (Exception e)
        {
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy, $"{e.GetType().Name}: {e.Message}", e);
        }
    }
}

using Akka.Persistence;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>The health probe of the journal and the snapshot store: the database answers a ping within the call timeout.</summary>
internal static class MongoDbProbe
{
    public static async Task<PersistenceHealthCheckResult> PingAsync(IMongoDatabase database, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
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

using Akka.Persistence;
using Npgsql;

namespace AkkaMail.Persistence.Postgres;

/// <summary>The health check of the journal and the snapshot store: the circuit breaker's verdict, then the server.</summary>
internal static class PostgresProbe
{
    /// <summary>The circuit breaker's verdict (<paramref name="breaker"/>, Akka's) when it is not healthy, else one
    /// <c>SELECT 1</c> on a pooled connection within <paramref name="timeout"/>: the server is reachable, accepts the
    /// credentials and answers.</summary>
    public static async Task<PersistenceHealthCheckResult> ProbeUnlessBrokenAsync(Task<PersistenceHealthCheckResult> breaker,
        string connectionString, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var verdict = await breaker;
        if (verdict.Status != PersistenceHealthStatus.Healthy) return verdict;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(deadline.Token);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(deadline.Token);
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Healthy, $"PostgreSQL {connection.ServerVersion} answers");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            var reason = e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : $"{e.GetType().Name}: {e.Message}";
            return new PersistenceHealthCheckResult(PersistenceHealthStatus.Unhealthy, reason, e);
        }
    }
}

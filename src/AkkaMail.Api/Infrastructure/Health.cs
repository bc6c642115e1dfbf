using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;

using AkkaMail.Actors;
using AkkaMail.Api.Auth;
using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.Observability;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkkaMail.Api.Infrastructure;

/// <summary>
/// /health/live: the actor system runs (no key; Akka.Hosting's liveness check). /health/ready: that, and the email
/// pipeline is started and the journal, the read model and the send queue answer; 503 otherwise. Without a key it answers the overall status alone (a load balancer's probe);
/// with the admin key (or when <c>AkkaMail:PublicOperations</c> is set) each part's status and detail, naming the failing
/// ones (the details name hosts and errors); with another key, 403.
/// </summary>
public static class Health
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    public static IServiceCollection AddReadinessChecks(this IServiceCollection services)
    {
        // The actor system's liveness check is Akka.Hosting's (AkkaMailApp: WithActorSystemLivenessCheck), the journal's
        // and the snapshot store's are Akka.Persistence.Hosting's (registered with the plugins: WithSqlitePersistence,
        // WithPersistenceBackend).
        services.AddHealthChecks()
            .AddCheck<EmailPipelineCheck>("email-pipeline", tags: ServiceHealth.Readiness)
            .AddCheck<ReadModelCheck>("read-model", tags: ServiceHealth.Readiness)
            .AddCheck<QueueCheck>("queue", tags: ServiceHealth.Readiness)
            .AddCheck<RetentionCheck>("retention", tags: ServiceHealth.Readiness);
        return services;
    }

    public static WebApplication MapHealth(this WebApplication app, bool publicDetails)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ServiceHealth.Live), ResponseWriter = WriteStatusAsync })
            .AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(ServiceHealth.Ready),
            ResponseWriter = (http, report) =>
                publicDetails || http.User.IsAdmin() ? WriteDetailsAsync(http, report)
                : http.User.Identity?.IsAuthenticated == true ? WriteForbiddenAsync(http)
                : WriteStatusAsync(http, report),
        }).AllowAnonymous();
        return app;
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static Task WriteStatusAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new { status = report.Status.ToString().ToLowerInvariant() }, Json));
    }

    private static Task WriteForbiddenAsync(HttpContext http) =>
        Problems.Forbidden("Only the admin key reads the readiness details; without a key, the overall status alone.").ExecuteAsync(http);

    private static Task WriteDetailsAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            failing = report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => e.Key).ToArray(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString().ToLowerInvariant(),
                detail = e.Value.Description,
                ms = (int)e.Value.Duration.TotalMilliseconds,
            }),
        };
        return http.Response.WriteAsync(JsonSerializer.Serialize(body, Json));
    }

    private static async Task<HealthCheckResult> Guard(Func<CancellationToken, Task<HealthCheckResult>> probe, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(ProbeTimeout);
        try
        {
            return await probe(cts.Token);
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private sealed class EmailPipelineCheck(ActorRegistry registry) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
            Task.FromResult(registry.TryGet<EmailManagerActor>(out _) ? HealthCheckResult.Healthy("running")
                : HealthCheckResult.Unhealthy("the email manager is not started"));
    }

    /// <summary>The read model answers, and its projection follows the journal within <c>read-model.max-lag</c>.</summary>
    private sealed class ReadModelCheck(StoreRegistration.EmailReadStoreBackend backend, AkkaMail.Projections.ProjectionProgress progress,
        AkkaMail.Projections.JournalHead head, AkkaMailSettings settings, TimeProvider clock) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) => Guard(async token =>
        {
            await backend.Store.GetAsync("health-probe", token);
            if (!progress.Started) return HealthCheckResult.Unhealthy("answers; its projection has not started");
            var (events, seconds) = await head.LagAsync(progress, clock.GetUtcNow(), token);
            var highest = progress.Offset + events;
            var detail = $"answers; projection at {progress.Offset} of {highest} ({events} events, {seconds:0.###} s behind)" +
                (progress.LastFailure is { } f && progress.LastFailureAt > progress.LastBatchAt ? $"; last failure: {f.Message}" : "");
            return seconds > settings.ReadSideMaxLag.TotalSeconds ? HealthCheckResult.Unhealthy(detail) : HealthCheckResult.Healthy(detail);
        }, ct);
    }

    /// <summary>The retention job's policy and last run, as a detail: never unready for it (a failed run is simply run
    /// again; what it did not remove yet is only kept longer). In cluster mode the job runs on one node (a singleton): the
    /// others report no run.</summary>
    private sealed class RetentionCheck(AkkaMailSettings settings, RetentionProgress progress) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            var p = settings.Retention;
            static string Keep(TimeSpan t) => t == Timeout.InfiniteTimeSpan ? "forever" : $"{t.TotalDays:0.##}d";
            var policy = $"bodies kept {Keep(p.KeepBodies)}, envelopes {Keep(p.KeepEnvelopes)} after settling";
            var last = progress.LastRun is not { } run
                ? $"no run on this node yet (every {settings.RetentionInterval})"
                : $"last run {run.StartedAt:O}: {run.Checked} checked, bodies of {run.BodiesRemoved} removed, {run.EmailsRemoved} emails removed" +
                  (run.FinishedAt is { } f ? $" in {(f - run.StartedAt).TotalSeconds:0.###} s" : "") +
                  (run.Error is { } e ? $"; stopped: {e}" : "");
            return Task.FromResult(HealthCheckResult.Healthy($"{policy}; {last}"));
        }
    }

    private sealed class QueueCheck(ISendQueue queue) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) => Guard(async token =>
        {
            if (queue is not IHealthProbe probe) return HealthCheckResult.Healthy($"{queue.Name}: in process");
            var (healthy, detail) = await probe.ProbeAsync(token);
            return healthy ? HealthCheckResult.Healthy($"{queue.Name}: {detail}") : HealthCheckResult.Unhealthy($"{queue.Name}: {detail}");
        }, ct);
    }
}

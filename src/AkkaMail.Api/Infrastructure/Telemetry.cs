using AkkaMail.Observability;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace AkkaMail.Api.Infrastructure;

/// <summary>
/// OpenTelemetry for the service. Metrics always (our meter, ASP.NET Core, the runtime), scraped by Prometheus at
/// /metrics. Traces only when an OTLP endpoint is configured (the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, with
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> grpc or http/protobuf, <c>OTEL_EXPORTER_OTLP_HEADERS</c>, <c>OTEL_SERVICE_NAME</c>
/// as the OpenTelemetry SDK reads them): ASP.NET Core requests, outgoing HTTP (the Mailgun calls) and one span per send
/// attempt (<see cref="AkkaMailTracing"/>). Without an endpoint no listener exists, so no span is ever built.
/// </summary>
public static class Telemetry
{
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IServiceCollection AddAkkaMailTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        // Our instruments, on a meter from the host's IMeterFactory.
        services.AddMetrics();
        services.AddSingleton<AkkaMailMetrics>();
        var otel = services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(AkkaMailMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(configuration[OtlpEndpointKey]))
            otel.WithTracing(t => t
                .AddSource(AkkaMailTracing.SourceName)
                // Probes and scrapes would be most of the spans and tell nothing.
                .AddAspNetCoreInstrumentation(o => o.Filter = http =>
                    !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments("/metrics"))
                .AddHttpClientInstrumentation()
                .AddOtlpExporter());
        return services;
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Traces leave the service over OTLP (http/protobuf) to a collector on loopback: the POST's request span and one span per
/// send attempt tagged with the email id. Without an endpoint, no tracer exists at all.
/// </summary>
public sealed class TracingTests
{
    [Fact]
    public async Task With_an_OTLP_endpoint_the_request_and_each_send_attempt_are_exported_with_the_email_id()
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var host = await ServiceHost.StartAsync(extraArgs: new[]
        {
            $"--OTEL_EXPORTER_OTLP_ENDPOINT={collector.Address}",
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_BSP_SCHEDULE_DELAY=200",
            "--OTEL_SERVICE_NAME=akkamail-tracing-test",
        });
        Assert.NotNull(host.App.Services.GetService<TracerProvider>());
        using var client = host.AdminClient();
        var posted = await client.PostJsonAsync("/api/emails", Json.ValidEmail());
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var id = (await posted.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() is "sent" or "delivered", TimeSpan.FromSeconds(20));

        // OTLP protobuf carries strings as UTF-8: the exported batches name the span, its tags and the request's route.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && !(collector.Contains("send attempt") && collector.Contains(id) && collector.Contains("/api/emails")))
            await Task.Delay(100);
        Assert.True(collector.Contains("send attempt"), "no send-attempt span exported");
        Assert.True(collector.Contains("akkamail.email.id") && collector.Contains(id), "the send-attempt span does not carry the email id");
        Assert.True(collector.Contains("akkamail.send.outcome"), "the send-attempt span does not say what became of it");
        Assert.True(collector.Contains("/api/emails"), "no span for the POST");
        Assert.True(collector.Contains("akkamail-tracing-test"), "the service name is not the configured one");
    }

    [Fact]
    public async Task Without_an_OTLP_endpoint_no_tracer_is_built()
    {
        await using var host = await ServiceHost.StartAsync();
        Assert.Null(host.App.Services.GetService<TracerProvider>());
    }

    /// <summary>A stand-in OTLP/HTTP collector: keeps the raw protobuf bodies posted to /v1/traces.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<byte[]> _bodies = new();

        private OtlpCollector(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";

        public static async Task<OtlpCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new OtlpCollector(app);
            app.MapPost("/v1/traces", async (HttpContext http) =>
            {
                using var buffer = new MemoryStream();
                await http.Request.Body.CopyToAsync(buffer);
                collector._bodies.Enqueue(buffer.ToArray());
                // An empty ExportTraceServiceResponse: full success.
                return Results.Bytes(Array.Empty<byte>(), "application/x-protobuf");
            });
            await app.StartAsync();
            collector.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return collector;
        }

        public bool Contains(string text)
        {
            var needle = Encoding.UTF8.GetBytes(text);
            return _bodies.Any(b => b.AsSpan().IndexOf(needle) >= 0);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

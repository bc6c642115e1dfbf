using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using AkkaMail.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>Each service counts on its own meter (IMeterFactory), but the Prometheus exporter listens by meter name,
/// process-wide: this collection runs alone, so no other test moves what /metrics shows.</summary>
[CollectionDefinition("metrics", DisableParallelization = true)]
public sealed class MetricsCollection;

[Collection("metrics")]
public sealed class MetricsTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient client)
    {
        var text = await client.GetStringAsync("/metrics");
        var values = new Dictionary<string, double>();
        foreach (Match m in Regex.Matches(text, @"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (?<value>\S+)", RegexOptions.Multiline))
            if (double.TryParse(m.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                values[m.Groups["name"].Value] = v;
        return values;
    }

    private static double Sum(Dictionary<string, double> metrics, string name) =>
        metrics.Where(kv => kv.Key == name || kv.Key.StartsWith(name + "{", StringComparison.Ordinal)).Sum(kv => kv.Value);

    [Fact]
    public async Task Each_service_counts_on_its_own_meter_even_in_one_process()
    {
        // The meter comes from each host's IMeterFactory: a collector on one host's meter sees none of another's emails.
        // (The Prometheus exporter listens by meter name, so /metrics of two services in one process would still add up.)
        await using var other = await ServiceHost.StartAsync();
        using var ours = new MetricCollector<long>(_host.App.Services.GetRequiredService<IMeterFactory>(),
            AkkaMail.Observability.AkkaMailMetrics.MeterName, "akkamail.emails.accepted");
        using var theirs = new MetricCollector<long>(other.App.Services.GetRequiredService<IMeterFactory>(),
            AkkaMail.Observability.AkkaMailMetrics.MeterName, "akkamail.emails.accepted");
        using var client = _host.AdminClient();
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.Accepted, (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).StatusCode);
        await ours.WaitForMeasurementsAsync(3, TimeSpan.FromSeconds(10));
        Assert.Equal(3, ours.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Empty(theirs.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task Metrics_count_what_happened()
    {
        using var client = _host.AdminClient();
        using var anon = _host.Client();
        var before = await ScrapeAsync(client);
        const int n = 5;
        var ids = new List<string>();
        for (var i = 0; i < n; i++)
            ids.Add((await (await client.PostJsonAsync("/api/emails", Json.ValidEmail($"m{i}@example.com"))).ReadJsonAsync())["id"]!.GetValue<string>());
        foreach (var id in ids) await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));
        // A bad request is counted by the HTTP instrumentation, not as an email.
        await client.PostJsonAsync("/api/emails", new { from = "x" });
        // An unsigned webhook: counted, refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostJsonAsync("/api/webhooks/mailgun", new { hello = 1 })).StatusCode);

        Dictionary<string, double> after = new();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        do
        {
            after = await ScrapeAsync(client);
            if (Sum(after, "akkamail_recipients_delivered_total") - Sum(before, "akkamail_recipients_delivered_total") >= n
                && Sum(after, "akkamail_emails_dispatched_total") - Sum(before, "akkamail_emails_dispatched_total") >= n) break;
            await Task.Delay(100);
        } while (DateTime.UtcNow < deadline);

        double Delta(string name) => Sum(after, name) - Sum(before, name);
        Assert.Equal(n, Delta("akkamail_emails_accepted_total"));
        Assert.Equal(n, Delta("akkamail_emails_sent_total"));
        Assert.Equal(n, Delta("akkamail_recipients_delivered_total"));
        Assert.True(Delta("akkamail_emails_dispatched_total") >= n, $"dispatched {Delta("akkamail_emails_dispatched_total")}");
        Assert.Equal(0, Delta("akkamail_emails_failed_total"));
        Assert.Equal(n, Delta("akkamail_provider_call_duration_seconds_count"));
        Assert.True(Delta("http_server_request_duration_seconds_count") >= n + 1,
            "http requests: " + string.Join(", ", after.Keys.Where(k => k.StartsWith("http_server", StringComparison.Ordinal)).Take(5)));
        Assert.Equal(1, Delta("akkamail_webhooks_received_total"));
        Assert.Contains(after.Keys, k => k.StartsWith("akkamail_webhooks_received_total{", StringComparison.Ordinal) && k.Contains("outcome=\"401\""));
        Assert.Contains(after.Keys, k => k.StartsWith("akkamail_email_actors_live", StringComparison.Ordinal));
        Assert.Contains(after.Keys, k => k.StartsWith("akkamail_provider_calls_in_flight", StringComparison.Ordinal));
        Assert.Contains(after.Keys, k => k.StartsWith("akkamail_queue_depth", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Health_live_and_ready_answer_with_each_part()
    {
        using var anon = _host.Client();
        using var admin = _host.AdminClient();
        var live = await anon.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var ready = await admin.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await ready.ReadJsonAsync();
        Assert.Equal("healthy", body["status"]!.GetValue<string>());
        foreach (var part in new[] { "akka.actorsystem", "email-pipeline", "journal", "snapshot-store", "read-model", "queue" })
            Assert.Equal("healthy", body["checks"]![part]!["status"]!.GetValue<string>());
    }

    [Fact]
    public void The_logger_factory_is_serilogs_at_the_configured_level()
    {
        var factory = _host.App.Services.GetRequiredService<ILoggerFactory>();
        Assert.IsType<Serilog.Extensions.Logging.SerilogLoggerFactory>(factory);
        var logger = factory.CreateLogger("AkkaMail.Tests.Category");
        Assert.Equal("SerilogLogger", logger.GetType().Name);
        Assert.True(logger.IsEnabled(LogLevel.Warning));
    }
}

/// <summary>
/// #16, item 8: the operator's surfaces (metrics, OpenAPI document, docs page, readiness details) need the admin key,
/// unless AkkaMail:PublicOperations is set; /health/live stays open, and /health/ready answers its status alone without a key.
/// </summary>
public sealed class OperationsAccessTests : IAsyncLifetime
{
    // "/docs/": Scalar redirects "/docs" there, and HttpClient drops the Authorization header on a redirect.
    private static readonly string[] Surfaces = { "/metrics", "/openapi/v1.json", "/docs", "/docs/" };
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<HttpClient> UserClientAsync()
    {
        using var admin = _host.AdminClient();
        var created = await admin.PostJsonAsync("/api/users", new { name = "someone" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return _host.Client((await created.ReadJsonAsync())["apiKey"]!.GetValue<string>());
    }

    [Fact]
    public async Task Metrics_openapi_and_docs_need_the_admin_key()
    {
        using var anon = _host.Client();
        using var admin = _host.AdminClient();
        using var user = await UserClientAsync();
        using var wrong = _host.Client("am_not-a-key");
        foreach (var path in Surfaces)
        {
            var none = await anon.GetAsync(path);
            Assert.True(HttpStatusCode.Unauthorized == none.StatusCode, $"{path} without a key: {(int)none.StatusCode}");
            Assert.DoesNotContain("/api/emails", await none.Content.ReadAsStringAsync());
            Assert.True(HttpStatusCode.Unauthorized == (await wrong.GetAsync(path)).StatusCode, $"{path} with a wrong key");
            var other = await user.GetAsync(path);
            Assert.True(HttpStatusCode.Forbidden == other.StatusCode, $"{path} with a user's key: {(int)other.StatusCode}");
            Assert.DoesNotContain("/api/emails", await other.Content.ReadAsStringAsync());
            if (path == "/docs") continue;
            var ok = await admin.GetAsync(path);
            Assert.True(HttpStatusCode.OK == ok.StatusCode, $"{path} with the admin key: {(int)ok.StatusCode}");
        }
        Assert.NotNull((await (await admin.GetAsync("/openapi/v1.json")).ReadJsonAsync())["paths"]!["/api/emails"]);
        Assert.Contains("akkamail_", await admin.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Readiness_without_a_key_is_the_status_alone_and_its_details_need_the_admin_key()
    {
        using var anon = _host.Client();
        using var admin = _host.AdminClient();
        using var user = await UserClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await anon.GetAsync("/health/live")).StatusCode);

        var bare = await anon.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
        var body = (await bare.ReadJsonAsync()).AsObject();
        Assert.Equal("healthy", body["status"]!.GetValue<string>());
        Assert.Equal(new[] { "status" }, body.Select(p => p.Key).ToArray());

        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/health/ready")).StatusCode);

        var full = await admin.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        var details = await full.ReadJsonAsync();
        Assert.Equal("healthy", details["status"]!.GetValue<string>());
        Assert.Contains("events,", details["checks"]!["read-model"]!["detail"]!.GetValue<string>());
    }
}

/// <summary>With AkkaMail:PublicOperations=true (a scraper on a private network) the operator's surfaces answer without a key.</summary>
public sealed class PublicOperationsTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(extraArgs: new[] { "--AkkaMail:PublicOperations=true" });
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Metrics_openapi_docs_and_readiness_details_are_open()
    {
        using var anon = _host.Client();
        foreach (var path in new[] { "/metrics", "/openapi/v1.json", "/docs", "/health/live" })
        {
            var r = await anon.GetAsync(path);
            Assert.True(HttpStatusCode.OK == r.StatusCode, $"{path}: {(int)r.StatusCode}");
        }
        var ready = await (await anon.GetAsync("/health/ready")).ReadJsonAsync();
        Assert.Equal("healthy", ready["checks"]!["queue"]!["status"]!.GetValue<string>());
        // The API itself still needs a key.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/emails")).StatusCode);
    }
}

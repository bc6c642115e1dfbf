using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// One test's world: the Mailgun fake in this process (loopback, random port), the service as a child process
/// pointed at it (provider mailgun, temp data folder, fixed port so the fake's webhook URL survives restarts),
/// optionally RabbitMQ queues of its own, and a user whose key the test sends with.
/// </summary>
public sealed class MailHarness : IAsyncDisposable
{
    public const string Domain = "mg.crash.test";
    public const string ApiKey = "key-crash-test";
    public const string SigningKey = "sk-crash-test";

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private MailHarness(ITestOutputHelper output) => Output = output;

    public ITestOutputHelper Output { get; }
    public MailgunFakeServer Fake { get; private set; } = null!;
    public ServiceProcess Service { get; private set; } = null!;
    public RabbitQueues? Rabbit { get; private set; }
    public string DataPath { get; private set; } = "";
    /// <summary>Authenticated as the test's user; 10 s timeout.</summary>
    public HttpClient Api { get; private set; } = null!;
    public string UserKey { get; private set; } = "";
    public TimeSpan FirstStart { get; private set; }

    /// <param name="transport">inproc or rabbitmq (queues of its own, deleted at the end).</param>
    public static async Task<MailHarness> StartAsync(ITestOutputHelper output, string transport, string extraHocon = "")
    {
        var h = new MailHarness(output);
        try
        {
            await h.InitAsync(transport, extraHocon);
            return h;
        }
        catch
        {
            await h.DisposeAsync();
            throw;
        }
    }

    private async Task InitAsync(string transport, string extraHocon)
    {
        DataPath = Path.Combine(Path.GetTempPath(), "akkamail-crash-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(DataPath);
        var port = ServiceProcess.FreePort();
        Fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = Domain,
            ApiKey = ApiKey,
            WebhookSigningKey = SigningKey,
            WebhookUrl = $"http://127.0.0.1:{port}/api/webhooks/mailgun",
            WebhookEvents = [],               // played by WebhookPump (per recipient, retried until 200)
            Latency = TimeSpan.FromMilliseconds(5),
            WebhookTimeout = TimeSpan.FromSeconds(5),
        });
        if (transport == "rabbitmq") Rabbit = new RabbitQueues();

        // Small backoffs and sweeps, and an attempt timeout that a test can wait for: an attempt cut by a kill is
        // sent again after it. No throttle: the sender's rate is the test's, not the provider's.
        var hocon = $$"""
            akkamail {
              sender { parallelism = 8, attempt-timeout = 5s, rate-limit { per-second = 100000, burst = 100000 } }
              retry { min-backoff = 200ms, max-backoff = 1s, jitter = 0.1 }
              sweep { interval = 2s, pickup-timeout = 5s }
            }
            {{Rabbit?.Hocon}}
            {{extraHocon}}
            """;
        var env = new Dictionary<string, string>
        {
            ["Mailgun__BaseUrl"] = Fake.BaseUrl,
            ["Mailgun__Domain"] = Domain,
            ["Mailgun__ApiKey"] = ApiKey,
            ["Mailgun__WebhookSigningKey"] = SigningKey,
            ["Mailgun__Timeout"] = "00:00:05",
            ["AkkaMail__HoconOverrides"] = hocon,
            ["RabbitMq__Uri"] = RabbitQueues.Uri,
        };
        Service = new ServiceProcess(Output, port, DataPath,
            ["--AkkaMail:Provider=mailgun", $"--AkkaMail:Transport={transport}",
             "--AkkaMail:RateLimit:PerSecond=100000", "--AkkaMail:RateLimit:Burst=100000"], env);
        FirstStart = await Service.StartAsync();

        using var admin = NewClient(await Service.AdminKeyAsync());
        var created = await admin.PostAsJsonAsync("/api/users", new { name = "crash-" + Guid.NewGuid().ToString("N")[..6], defaultFrom = "Shop <shop@example.com>" }, Web);
        if (created.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"POST /api/users: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");
        UserKey = JsonNode.Parse(await created.Content.ReadAsStringAsync())!["apiKey"]!.GetValue<string>();
        Api = NewClient(UserKey);
    }

    public HttpClient NewClient(string key, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            MaxConnectionsPerServer = 64,
        };
        var c = new HttpClient(handler) { BaseAddress = Service.BaseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return c;
    }

    public static object EmailBody(string to, string subject) => new
    {
        from = "Shop <shop@example.com>",
        to = new[] { to },
        subject,
        text = "Your order " + subject,
    };

    public static StringContent Json(object body) =>
        new(JsonSerializer.Serialize(body, Web), System.Text.Encoding.UTF8, "application/json");

    /// <summary>GET /api/emails/{id}: (HTTP status, body or null). Throws on transport errors.</summary>
    public async Task<(HttpStatusCode Status, JsonNode? Body)> GetEmailAsync(string id, CancellationToken ct = default)
    {
        using var r = await Api.GetAsync($"/api/emails/{id}", ct);
        return (r.StatusCode, r.IsSuccessStatusCode ? JsonNode.Parse(await r.Content.ReadAsStringAsync(ct)) : null);
    }

    /// <summary>Every address on the user's suppression list (all pages).</summary>
    public async Task<HashSet<string>> SuppressionsAsync()
    {
        var all = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string? cursor = null;
        do
        {
            var url = "/api/suppressions?limit=1000" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            using var r = await Api.GetAsync(url);
            r.EnsureSuccessStatusCode();
            var page = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            foreach (var item in page["items"]!.AsArray()) all.Add(item!["address"]!.GetValue<string>());
            cursor = page["nextCursor"]?.GetValue<string>();
        } while (cursor is not null);
        return all;
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        if (Service is not null) await Service.DisposeAsync();
        if (Fake is not null) await Fake.DisposeAsync();
        if (Rabbit is not null) await Rabbit.DisposeAsync();
        for (var i = 0; i < 5 && Directory.Exists(DataPath); i++)
        {
            try { Directory.Delete(DataPath, recursive: true); }
            catch (IOException) { await Task.Delay(200); }
            catch (UnauthorizedAccessException) { await Task.Delay(200); }
        }
    }
}

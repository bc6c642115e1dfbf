using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>
/// A customer's receiver on loopback, over real HTTP: it records every POST and answers what the test tells it to.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Received(string Id, string Timestamp, string Signature, string Body, int Answered, DateTimeOffset At)
    {
        public JsonNode Json => JsonNode.Parse(Body)!;
    }

    private readonly WebApplication _app;
    public ConcurrentQueue<Received> Requests { get; } = new();
    /// <summary>The status to answer the n-th request (0-based) with.</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;
    /// <summary>How long to hold each request before answering (a hanging endpoint).</summary>
    public TimeSpan Hold { get; set; }
    /// <summary>Requests that arrived, answered or not.</summary>
    public int Started => Volatile.Read(ref _started);
    private int _count;
    private int _started;

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", async (HttpContext http) =>
        {
            Interlocked.Increment(ref receiver._started);
            if (receiver.Hold > TimeSpan.Zero)
            {
                try { await Task.Delay(receiver.Hold, http.RequestAborted); }
                catch (OperationCanceledException) { return Results.Empty; }
            }
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var n = Interlocked.Increment(ref receiver._count) - 1;
            var status = receiver.Answer(n);
            receiver.Requests.Enqueue(new Received(http.Request.Headers["webhook-id"].ToString(), http.Request.Headers["webhook-timestamp"].ToString(),
                http.Request.Headers["webhook-signature"].ToString(), body, status, DateTimeOffset.UtcNow));
            return Results.Text(status == 200 ? "ok" : "no", statusCode: status);
        });
        await app.StartAsync();
        receiver.Url = new Uri(new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()), "/hook");
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// Standard Webhooks verification written from the specification, independently of the service's code: HMAC-SHA256
/// keyed with the base64-decoded secret (after <c>whsec_</c>) over <c>{id}.{timestamp}.{body}</c>, compared with each
/// <c>v1,</c> signature of the header; the timestamp within 5 minutes.
/// </summary>
public static class StandardWebhooksVerifier
{
    public static bool Verify(string secret, WebhookReceiver.Received r)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{r.Id}.{r.Timestamp}.{r.Body}"));
        if (Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - long.Parse(r.Timestamp)) > 300) return false;
        return r.Signature.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(s => s.StartsWith("v1,", StringComparison.Ordinal))
            .Any(s => CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(s[3..]), expected));
    }
}

/// <summary>Outbound webhooks end to end: the service, a receiver on loopback, real HTTP both ways.</summary>
public sealed class OutboundWebhookTests(OutboundWebhookTests.HostFixture fixture, ITestOutputHelper output)
    : IClassFixture<OutboundWebhookTests.HostFixture>
{
    public sealed class HostFixture : IAsyncLifetime
    {
        public ServiceHost Host { get; private set; } = null!;

        public async Task InitializeAsync() => Host = await ServiceHost.StartAsync(extraArgs:
        [
            "--AkkaMail:OutboundWebhooks:AllowLoopback=true", "--AkkaMail:OutboundWebhooks:MinBackoff=100ms",
            "--AkkaMail:OutboundWebhooks:MaxBackoff=400ms", "--AkkaMail:OutboundWebhooks:PollInterval=200ms",
            "--AkkaMail:OutboundWebhooks:RateLimit:PerSecond=1000", "--AkkaMail:OutboundWebhooks:RateLimit:Burst=1000",
            "--AkkaMail:Sender:RateLimit:PerSecond=1000", "--AkkaMail:Sender:RateLimit:Burst=1000", "--AkkaMail:RateLimit:Burst=100000",
        ]);

        public async Task DisposeAsync() => await Host.DisposeAsync();
    }

    private ServiceHost Host => fixture.Host;

    private Task<HttpClient> NewUserAsync() => NewUserAsync(Host);

    internal static async Task<HttpClient> NewUserAsync(ServiceHost host)
    {
        using var admin = host.AdminClient();
        var created = await (await admin.PostJsonAsync("/api/users", new { name = "hooks" })).ReadJsonAsync();
        return host.Client(created["apiKey"]!.GetValue<string>());
    }

    internal static async Task<(string Id, string Secret)> CreateEndpointAsync(HttpClient client, Uri url, object? extra = null)
    {
        var r = await client.PostJsonAsync("/api/webhooks/endpoints", extra ?? new { url = url.ToString() });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await r.ReadJsonAsync();
        return (body["id"]!.GetValue<string>(), body["secret"]!.GetValue<string>());
    }

    internal static async Task<List<string>> SendAsync(HttpClient client, int count, string to = "alice@example.com")
    {
        var ids = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            var r = await client.PostJsonAsync("/api/emails", Json.ValidEmail(to));
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
            ids.Add((await r.ReadJsonAsync())["id"]!.GetValue<string>());
        });
        return ids.ToList();
    }

    /// <summary>Waits until every email is delivered and the receiver has answered 200 to each of its changes
    /// (versions 1..the email's version); returns the emails' versions.</summary>
    private static async Task<Dictionary<string, long>> WaitForAllAsync(HttpClient client, WebhookReceiver receiver, IReadOnlyList<string> ids,
        TimeSpan within)
    {
        var versions = new Dictionary<string, long>();
        foreach (var id in ids)
            versions[id] = (await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", within))["version"]!.GetValue<long>();
        var expected = versions.Sum(v => v.Value);
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            var done = receiver.Requests.Where(r => r.Answered == 200).Select(r => r.Id).Distinct().Count();
            if (done >= expected) break;
            await Task.Delay(100);
        }
        return versions;
    }

    [Fact]
    public async Task Every_change_of_a_few_hundred_emails_arrives_signed_and_in_order_per_email()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var client = await NewUserAsync();
        var (_, secret) = await CreateEndpointAsync(client, receiver.Url);
        var ids = await SendAsync(client, 300);
        var versions = await WaitForAllAsync(client, receiver, ids, TimeSpan.FromSeconds(120));

        var received = receiver.Requests.ToList();
        Assert.All(received, r => Assert.True(StandardWebhooksVerifier.Verify(secret, r), $"bad signature on {r.Id}"));
        var byEmail = received.GroupBy(r => r.Json["data"]!["emailId"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var id in ids)
        {
            var arrived = byEmail[id].Select(r => r.Json["data"]!["version"]!.GetValue<long>()).ToList();
            // Every change, once, in the email's order.
            Assert.Equal(Enumerable.Range(1, (int)versions[id]).Select(v => (long)v), arrived);
            var last = byEmail[id][^1].Json;
            Assert.Equal("delivered", last["type"]!.GetValue<string>());
            Assert.Equal("delivered", last["data"]!["status"]!.GetValue<string>());
            Assert.Equal("alice@example.com", last["data"]!["recipient"]!.GetValue<string>());
            Assert.Equal(byEmail[id][^1].Id, last["data"]!["eventId"]!.GetValue<string>());
        }
        output.WriteLine($"{ids.Count} emails, {received.Count} webhooks, all signed and in order");

        // The metrics count the attempts by outcome and show the projection's lag.
        using var admin = Host.AdminClient();
        var metrics = await admin.GetStringAsync("/metrics");
        var succeeded = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("akkamail_outbound_webhooks_attempts_total{", StringComparison.Ordinal)
                                                                && l.Contains("outcome=\"succeeded\""));
        Assert.NotNull(succeeded);
        var count = succeeded![(succeeded.IndexOf('}') + 2)..].Split(' ')[0]; // name{labels} value [timestamp]
        Assert.True(double.Parse(count, System.Globalization.CultureInfo.InvariantCulture) >= received.Count, succeeded);
        Assert.Contains("akkamail_outbound_webhooks_lag_events", metrics);
    }

    [Fact]
    public async Task A_receiver_answering_500_for_a_while_then_200_gets_every_change_in_order_per_email()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        // Down for its first 60 requests (whatever the machine's speed), then up.
        receiver.Answer = n => n < 60 ? 500 : 200;
        using var client = await NewUserAsync();
        var (endpointId, secret) = await CreateEndpointAsync(client, receiver.Url);
        var ids = await SendAsync(client, 40, "bob@example.com");
        var versions = await WaitForAllAsync(client, receiver, ids, TimeSpan.FromSeconds(120));

        var received = receiver.Requests.ToList();
        Assert.Equal(60, received.Count(r => r.Answered == 500));
        Assert.All(received, r => Assert.True(StandardWebhooksVerifier.Verify(secret, r)));
        foreach (var id in ids)
        {
            var mine = received.Where(r => r.Json["data"]!["emailId"]!.GetValue<string>() == id).ToList();
            // Every attempt (failed or not) came in the email's order: a later change never overtook an earlier one.
            var attempted = mine.Select(r => r.Json["data"]!["version"]!.GetValue<long>()).ToList();
            Assert.Equal(attempted.Order(), attempted);
            Assert.Equal(Enumerable.Range(1, (int)versions[id]).Select(v => (long)v),
                mine.Where(r => r.Answered == 200).Select(r => r.Json["data"]!["version"]!.GetValue<long>()));
        }
        // The log shows a delivery that needed more than one attempt, succeeded.
        var log = await (await client.GetAsync($"/api/webhooks/endpoints/{endpointId}/deliveries?limit=200")).ReadJsonAsync();
        Assert.Contains(log["items"]!.AsArray(), d => d!["status"]!.GetValue<string>() == "succeeded" && d["attempts"]!.GetValue<int>() > 1);
    }

    [Fact]
    public async Task A_410_disables_the_endpoint_and_its_user_enables_it_again()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = _ => 410;
        using var client = await NewUserAsync();
        var (endpointId, _) = await CreateEndpointAsync(client, receiver.Url);
        var ids = await SendAsync(client, 1);
        await client.WaitForEmailAsync(ids[0], e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        JsonNode endpoint = null!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            endpoint = await (await client.GetAsync($"/api/webhooks/endpoints/{endpointId}")).ReadJsonAsync();
            if (!endpoint["enabled"]!.GetValue<bool>()) break;
            await Task.Delay(100);
        }
        Assert.False(endpoint["enabled"]!.GetValue<bool>());
        Assert.Contains("410", endpoint["disabledReason"]!.GetValue<string>());
        await Task.Delay(1500);
        Assert.Single(receiver.Requests); // nothing more after the 410
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync($"/api/webhooks/endpoints/{endpointId}/ping", null)).StatusCode);

        receiver.Answer = _ => 200;
        var enabled = await (await client.PutAsJsonAsync($"/api/webhooks/endpoints/{endpointId}", new { enabled = true })).ReadJsonAsync();
        Assert.True(enabled["enabled"]!.GetValue<bool>());
        Assert.Null(enabled["disabledReason"]);
        // Deliveries go out again: a ping arrives.
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync($"/api/webhooks/endpoints/{endpointId}/ping", null)).StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !receiver.Requests.Any(r => r.Answered == 200)) await Task.Delay(100);
        Assert.Contains(receiver.Requests, r => r.Answered == 200);
    }

    [Theory]
    [InlineData("https://10.0.0.1/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("https://192.168.1.20/hook")]
    [InlineData("https://[fd00::1]/hook")]
    [InlineData("ftp://example.com/hook")]
    public async Task An_endpoint_at_a_private_address_is_refused(string url)
    {
        using var client = await NewUserAsync();
        var r = await client.PostJsonAsync("/api/webhooks/endpoints", new { url });
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.NotNull((await r.ReadJsonAsync())["errors"]!["url"]);
        Assert.Empty((await (await client.GetAsync("/api/webhooks/endpoints")).ReadJsonAsync())["items"]!.AsArray());
    }

    [Fact]
    public async Task After_a_rotation_both_secrets_sign_during_the_overlap_and_the_secret_is_never_shown_again()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var client = await NewUserAsync();
        var (endpointId, oldSecret) = await CreateEndpointAsync(client, receiver.Url, new { url = receiver.Url.ToString(), eventTypes = new[] { "delivered" } });
        var shown = await (await client.GetAsync($"/api/webhooks/endpoints/{endpointId}")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(oldSecret, shown);
        Assert.DoesNotContain("secret\"", shown);
        var rotated = await (await client.PostAsync($"/api/webhooks/endpoints/{endpointId}/secret/rotate", null)).ReadJsonAsync();
        var newSecret = rotated["secret"]!.GetValue<string>();
        Assert.NotEqual(oldSecret, newSecret);
        Assert.True(rotated["previousSecretExpiresAt"]!.GetValue<DateTimeOffset>() > DateTimeOffset.UtcNow.AddHours(23));

        var ping = await client.PostAsync($"/api/webhooks/endpoints/{endpointId}/ping", null);
        Assert.Equal(HttpStatusCode.Accepted, ping.StatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && receiver.Requests.IsEmpty) await Task.Delay(50);
        var received = Assert.Single(receiver.Requests);
        Assert.Equal("ping", received.Json["type"]!.GetValue<string>());
        Assert.Equal(2, received.Signature.Split(' ').Length);
        Assert.True(StandardWebhooksVerifier.Verify(oldSecret, received));
        Assert.True(StandardWebhooksVerifier.Verify(newSecret, received));
        Assert.False(StandardWebhooksVerifier.Verify("whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), received));
        // Secrets are stored encrypted: neither appears in the database file.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = await File.ReadAllBytesAsync(Path.Combine(Host.DataPath, "akkamail.db"));
        var wal = Path.Combine(Host.DataPath, "akkamail.db-wal");
        var all = Encoding.ASCII.GetString(bytes) + (File.Exists(wal) ? Encoding.ASCII.GetString(await File.ReadAllBytesAsync(wal)) : "");
        Assert.DoesNotContain(newSecret[6..], all);
        Assert.DoesNotContain(oldSecret[6..], all);
    }

    [Fact]
    public async Task The_delivery_log_redelivers_one_delivery_with_its_id_and_filters_by_event_type_and_tag()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var client = await NewUserAsync();
        var (endpointId, secret) = await CreateEndpointAsync(client, receiver.Url,
            new { url = receiver.Url.ToString(), eventTypes = new[] { "sent", "delivered" }, tags = new[] { "receipt" } });
        var untagged = await SendAsync(client, 1);
        var tagged = await client.PostJsonAsync("/api/emails", new { from = "a@example.com", to = new[] { "c@example.com" }, subject = "s", text = "t", tags = new[] { "receipt" } });
        var taggedId = (await tagged.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(taggedId, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        await client.WaitForEmailAsync(untagged[0], e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && receiver.Requests.Count < 2) await Task.Delay(50);
        await Task.Delay(500);
        Assert.Equal(["sent", "delivered"], receiver.Requests.Select(r => r.Json["type"]!.GetValue<string>()));
        Assert.All(receiver.Requests, r => Assert.Equal(taggedId, r.Json["data"]!["emailId"]!.GetValue<string>()));

        var log = await (await client.GetAsync($"/api/webhooks/endpoints/{endpointId}/deliveries?limit=1")).ReadJsonAsync();
        var newest = log["items"]![0]!;
        Assert.Equal("succeeded", newest["status"]!.GetValue<string>());
        Assert.Equal(200, newest["lastStatusCode"]!.GetValue<int>());
        Assert.Equal("ok", newest["lastResponse"]!.GetValue<string>());
        Assert.NotNull(log["nextCursor"]);
        var older = await (await client.GetAsync($"/api/webhooks/endpoints/{endpointId}/deliveries?limit=1&cursor={log["nextCursor"]}")).ReadJsonAsync();
        Assert.Single(older["items"]!.AsArray());

        var again = await client.PostAsync($"/api/webhooks/endpoints/{endpointId}/deliveries/{newest["id"]}/redeliver", null);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && receiver.Requests.Count < 3) await Task.Delay(50);
        var redelivered = receiver.Requests.Last();
        Assert.Equal(newest["eventId"]!.GetValue<string>(), redelivered.Id);
        Assert.True(StandardWebhooksVerifier.Verify(secret, redelivered));

        // Someone else's endpoint is not found.
        using var other = await NewUserAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/webhooks/endpoints/{endpointId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/webhooks/endpoints/{endpointId}/deliveries")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.DeleteAsync($"/api/webhooks/endpoints/{endpointId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/webhooks/endpoints/{endpointId}")).StatusCode);
    }
}

/// <summary>Timing: runs alone (no other test class loads the machine meanwhile), on a service of its own.</summary>
[CollectionDefinition("outbound-webhook-timing", DisableParallelization = true)]
public sealed class OutboundWebhookTimingCollection;

[Collection("outbound-webhook-timing")]
public sealed class OutboundWebhookIsolationTests(OutboundWebhookTests.HostFixture fixture, ITestOutputHelper output)
    : IClassFixture<OutboundWebhookTests.HostFixture>
{
    [Fact]
    public async Task A_hanging_endpoint_delays_neither_another_endpoint_nor_sending()
    {
        await using var fast = await WebhookReceiver.StartAsync();
        await using var hanging = await WebhookReceiver.StartAsync();
        hanging.Hold = TimeSpan.FromMinutes(5);
        using var client = await OutboundWebhookTests.NewUserAsync(fixture.Host);
        await OutboundWebhookTests.CreateEndpointAsync(client, fast.Url);

        async Task<double> RateAsync(int emails)
        {
            var before = fast.Requests.Count;
            var started = DateTime.UtcNow;
            var ids = await OutboundWebhookTests.SendAsync(client, emails, "carol@example.com");
            var versions = new List<long>();
            foreach (var id in ids)
                versions.Add((await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(60)))["version"]!.GetValue<long>());
            var sent = DateTime.UtcNow - started;
            // The fast endpoint got every change of these emails too.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && fast.Requests.Count - before < versions.Sum()) await Task.Delay(50);
            Assert.Equal(versions.Sum(), fast.Requests.Count - before);
            return emails / sent.TotalSeconds;
        }

        await RateAsync(30); // warm-up: the first emails of a fresh service are the slowest
        var without = await RateAsync(100);
        await OutboundWebhookTests.CreateEndpointAsync(client, hanging.Url);
        var with = await RateAsync(100);
        output.WriteLine($"emails sent to delivered: {without:0} /s without the hanging endpoint, {with:0} /s with it; " +
                         $"the hanging endpoint holds {hanging.Started} requests");
        Assert.True(hanging.Started > 0, "the hanging endpoint was tried");
        // Its lane holds at most `parallelism` requests (4) at once; each waits for the 10 s timeout, then is retried.
        Assert.InRange(hanging.Started, 1, 12);
        Assert.True(with > without / 3, $"sending slowed down: {without:0} /s → {with:0} /s");
    }

}

using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>GET /api/stats over real HTTP: what a user's emails add up to once projected, per tag, whose figures a caller
/// may see, and the 400s of ranges and buckets the statistics do not keep.</summary>
public sealed class StatsApiTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(string Id, HttpClient Client)> NewUserAsync(HttpClient admin, string name)
    {
        var created = await (await admin.PostJsonAsync("/api/users", new { name })).ReadJsonAsync();
        return (created["id"]!.GetValue<string>(), _host.Client(created["apiKey"]!.GetValue<string>()));
    }

    private static async Task<JsonNode> StatsAsync(HttpClient c, string query)
    {
        var r = await c.GetAsync("/api/stats?" + query);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return await r.ReadJsonAsync();
    }

    private static long Total(JsonNode stats, string counter) => stats["totals"]![counter]!.GetValue<long>();

    [Fact]
    public async Task A_user_s_delivered_emails_are_counted_per_tag_in_every_bucket_and_only_the_owner_or_admin_sees_them()
    {
        using var admin = _host.AdminClient();
        var (aliceId, alice) = await NewUserAsync(admin, "alice");
        var (_, bob) = await NewUserAsync(admin, "bob");
        using var _a = alice;
        using var _b = bob;
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var body = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(Json.ValidEmail($"r{i}@example.com")))!.AsObject();
            body["tags"] = i < 3 ? new JsonArray("receipt") : new JsonArray();
            var r = await alice.PostJsonAsync("/api/emails", body);
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
            ids.Add((await r.ReadJsonAsync())["id"]!.GetValue<string>());
        }
        foreach (var id in ids)
            await alice.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(60));

        // The projection catches up shortly after the read model: poll until every delivery is counted.
        JsonNode day = null!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            day = await StatsAsync(alice, "bucket=minute");
            if (Total(day, "delivered") == 4) break;
            await Task.Delay(200);
        }
        Assert.Equal(4, Total(day, "accepted"));
        Assert.Equal(4, Total(day, "sent"));
        Assert.Equal(4, Total(day, "delivered"));
        Assert.Equal(0, Total(day, "failed"));
        Assert.Equal(1.0, day["rates"]!["deliveredPerSent"]!.GetValue<double>());
        Assert.Equal("minute", day["bucket"]!.GetValue<string>());
        Assert.InRange(day["series"]!.AsArray().Count, 1440, 1441);
        Assert.Equal(4, day["latency"]!["overall"]!["samples"]!.GetValue<long>());
        Assert.NotNull(day["latency"]!["overall"]!["p50Ms"]);

        foreach (var bucket in new[] { "hour", "day" })
        {
            var receipt = await StatsAsync(alice, $"bucket={bucket}&tag=receipt");
            Assert.Equal(3, Total(receipt, "accepted"));
            Assert.Equal(3, Total(receipt, "delivered"));
            Assert.Equal(3, receipt["series"]!.AsArray().Sum(p => p!["counts"]!["delivered"]!.GetValue<long>()));
        }
        Assert.Equal(0, Total(await StatsAsync(alice, "tag=nothing-tagged-so"), "accepted"));

        // Someone else's figures: not bob's to see; the admin's, by user id or every user together.
        Assert.Equal(0, Total(await StatsAsync(bob, "bucket=hour"), "accepted"));
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/stats?userId={aliceId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/api/stats?userId=*")).StatusCode);
        Assert.Equal(4, Total(await StatsAsync(admin, $"userId={aliceId}"), "delivered"));
        Assert.True(Total(await StatsAsync(admin, "userId=*"), "delivered") >= 4);
    }

    [Theory]
    [InlineData("bucket=week", "bucket")]
    [InlineData("bucket=minute&from=2020-01-01T00:00:00Z", "bucket")]
    [InlineData("bucket=hour&from=2020-01-01T00:00:00Z", "bucket")]
    [InlineData("bucket=day&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=day", "from")]
    public async Task Ranges_and_buckets_the_statistics_do_not_keep_are_400_naming_the_parameter(string query, string field)
    {
        using var admin = _host.AdminClient();
        var r = await admin.GetAsync("/api/stats?" + query);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.NotNull((await r.ReadJsonAsync())["errors"]![field]);
    }
}

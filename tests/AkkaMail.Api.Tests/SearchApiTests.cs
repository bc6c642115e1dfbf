using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>GET /api/emails?q= over real HTTP: finds an email by each indexed field (the chosen header included), only
/// the caller's, combined with a filter, and pages through matches without gaps or repeats while emails arrive.</summary>
public sealed class SearchApiTests(SearchApiTests.HostFixture fixture) : IClassFixture<SearchApiTests.HostFixture>
{
    public sealed class HostFixture : IAsyncLifetime
    {
        public ServiceHost Host { get; private set; } = null!;

        public async Task InitializeAsync() => Host = await ServiceHost.StartAsync(extraArgs:
            ["--AkkaMail:ReadModel:SearchHeaders=X-Order-Id", "--AkkaMail:RateLimit:Burst=100000"]);

        public async Task DisposeAsync() => await Host.DisposeAsync();
    }

    private ServiceHost Host => fixture.Host;

    private async Task<HttpClient> NewUserAsync()
    {
        using var admin = Host.AdminClient();
        var body = await (await admin.PostJsonAsync("/api/users", new { name = "searcher" })).ReadJsonAsync();
        return Host.Client(body["apiKey"]!.GetValue<string>());
    }

    private static async Task<string> SendAsync(HttpClient c, object email)
    {
        var r = await c.PostJsonAsync("/api/emails", email);
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        return (await r.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    private static async Task<(string[] Ids, string? Next)> PageAsync(HttpClient c, string query)
    {
        var r = await c.GetAsync("/api/emails?" + query);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await r.ReadJsonAsync();
        return (body["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()).ToArray(), body["nextCursor"]?.GetValue<string>());
    }

    private static async Task<string[]> SearchAsync(HttpClient c, string q) => (await PageAsync(c, "q=" + Uri.EscapeDataString(q))).Ids;

    [Fact]
    public async Task Finds_an_email_by_each_field_and_only_the_callers()
    {
        using var alice = await NewUserAsync();
        using var bob = await NewUserAsync();
        var id = await SendAsync(alice, new
        {
            from = "Kiosk <kiosk-qv@shop.test>", to = new[] { "ulrike-qv@buyer.test" }, cc = new[] { "audit-qv@shop.test" },
            subject = "Quittung Bestellung", text = "body words never indexed", tags = new[] { "quittung-tag" },
            headers = new Dictionary<string, string> { ["X-Order-Id"] = "ORD-5517", ["X-Other"] = "notindexed" },
        });
        await SendAsync(alice, Json.ValidEmail("someone@else.test"));
        await SendAsync(bob, new { from = "kiosk-qv@shop.test", to = new[] { "ulrike-qv@buyer.test" }, subject = "Quittung", text = "t" });
        var email = await alice.WaitForEmailAsync(id, e => e["providerMessageId"] is JsonValue && e["status"]!.GetValue<string>() == "delivered",
            TimeSpan.FromSeconds(30));
        var providerMessageId = email["providerMessageId"]!.GetValue<string>();

        foreach (var q in new[]
                 {
                     "quittung", "Bestell", "ulrike-qv@buyer.test", "kiosk-qv@shop.test", "audit-qv", "quittung-tag", providerMessageId, id,
                     "ORD-5517", "quittung ulrike",
                 })
            Assert.True((await SearchAsync(alice, q)).SequenceEqual([id]), $"'{q}' should find the email");
        Assert.Empty(await SearchAsync(alice, "body words"));
        Assert.Empty(await SearchAsync(alice, "notindexed"));
        Assert.Single(await SearchAsync(bob, "quittung"));
        Assert.Equal([id], (await PageAsync(alice, "status=delivered&q=ORD-5517")).Ids);
        Assert.Empty((await PageAsync(alice, "status=failed&q=ORD-5517")).Ids);

        var bad = await alice.GetAsync("/api/emails?q=" + Uri.EscapeDataString("@@ !!"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.NotNull((await bad.ReadJsonAsync())["errors"]!["q"]);
    }

    [Fact]
    public async Task Pages_through_matches_without_gaps_or_repeats_while_emails_arrive()
    {
        using var alice = await NewUserAsync();
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
            ids.Add(await SendAsync(alice, new { from = "a@shop.test", to = new[] { $"r{i}@buyer.test" }, subject = $"Zephyrine notice {i}", text = "t" }));
        await SendAsync(alice, new { from = "a@shop.test", to = new[] { "x@buyer.test" }, subject = "Unrelated", text = "t" });
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await PageAsync(alice, "limit=200&q=zephyrine")).Ids.Length < 12 && DateTime.UtcNow < deadline) await Task.Delay(100);

        var seen = new List<string>();
        string? cursor = null;
        var arriving = 0;
        do
        {
            var (page, next) = await PageAsync(alice, "limit=5&q=zephyrine" + (cursor is null ? "" : "&cursor=" + cursor));
            seen.AddRange(page);
            cursor = next;
            await SendAsync(alice, new { from = "a@shop.test", to = new[] { "late@buyer.test" }, subject = $"Zephyrine late {arriving++}", text = "t" });
        } while (cursor is not null);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Subset(seen.ToHashSet(), ids.ToHashSet());
    }
}

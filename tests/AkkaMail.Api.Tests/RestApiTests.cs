using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>Users, keys, isolation between users, listing, cancel, idempotency, suppression.</summary>
public sealed class RestApiTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private ServiceHost Host => fixture.Host;

    private async Task<(string Id, string Key, HttpClient Client)> NewUserAsync(string name = "user", string? defaultFrom = null)
    {
        using var admin = Host.AdminClient();
        var r = await admin.PostJsonAsync("/api/users", new { name, defaultFrom });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await r.ReadJsonAsync();
        var key = body["apiKey"]!.GetValue<string>();
        return (body["id"]!.GetValue<string>(), key, Host.Client(key));
    }

    private static async Task<string> SendAsync(HttpClient c, object? body = null, string? idempotencyKey = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = JsonContent.Create(body ?? Json.ValidEmail()) };
        if (idempotencyKey is not null) req.Headers.Add("Idempotency-Key", idempotencyKey);
        var r = await c.SendAsync(req);
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        return (await r.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task Only_the_admin_creates_users_and_a_user_sees_itself()
    {
        var (id, key, client) = await NewUserAsync("shop", "Shop <shop@example.com>");
        Assert.StartsWith("am_", key);
        var me = await (await client.GetAsync("/api/users/me")).ReadJsonAsync();
        Assert.Equal(id, me["id"]!.GetValue<string>());
        Assert.False(me["isAdmin"]!.GetValue<bool>());
        var forbidden = await client.PostJsonAsync("/api/users", new { name = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

        // The default sender fills a missing "from".
        var emailId = await SendAsync(client, new { to = new[] { "a@example.com" }, subject = "s", text = "t" });
        var email = await client.WaitForEmailAsync(emailId, _ => true, TimeSpan.FromSeconds(2));
        Assert.Equal("Shop <shop@example.com>", email["from"]!.GetValue<string>());
    }

    [Fact]
    public async Task Another_users_email_is_404_on_every_endpoint()
    {
        var (_, _, alice) = await NewUserAsync("alice");
        var (_, _, bob) = await NewUserAsync("bob");
        var id = await SendAsync(alice, new { from = "a@example.com", to = new[] { "x@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddDays(1) });
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/emails/{id}")).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/{id}/events")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/emails/{id}/cancel", null)).StatusCode);
        var list = await (await bob.GetAsync("/api/emails")).ReadJsonAsync();
        Assert.DoesNotContain(list["items"]!.AsArray(), e => e!["id"]!.GetValue<string>() == id);
        // and it is exactly like an id that does not exist
        var missing = await bob.GetAsync("/api/emails/0123456789abcdef0123456789abcdef");
        var other = await bob.GetAsync($"/api/emails/{id}");
        Assert.Equal((await missing.ReadJsonAsync())["type"]!.ToJsonString(), (await other.ReadJsonAsync())["type"]!.ToJsonString());
        // Bob cannot make keys for Alice either.
        var aliceId = (await (await alice.GetAsync("/api/users/me")).ReadJsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/users/{aliceId}/keys", null)).StatusCode);
        // Alice can still cancel her scheduled email.
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync($"/api/emails/{id}/cancel", null)).StatusCode);
    }

    [Fact]
    public async Task A_revoked_key_is_refused_at_once_and_other_keys_keep_working()
    {
        var (userId, firstKey, first) = await NewUserAsync();
        var r = await first.PostAsync($"/api/users/{userId}/keys", null);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var created = await r.ReadJsonAsync();
        using var second = Host.Client(created["apiKey"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/users/me")).StatusCode);

        var keyId = created["keyId"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NoContent, (await first.DeleteAsync($"/api/users/{userId}/keys/{keyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await second.GetAsync("/api/users/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/api/users/me")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await first.DeleteAsync($"/api/users/{userId}/keys/{keyId}")).StatusCode);
        Assert.NotEqual(firstKey, created["apiKey"]!.GetValue<string>());
    }

    [Fact]
    public async Task Idempotency_key_gives_one_email_and_a_changed_body_gives_422()
    {
        var (_, _, client) = await NewUserAsync();
        var key = Guid.NewGuid().ToString();
        var first = await SendAsync(client, Json.ValidEmail("same@example.com"), key);
        var second = await SendAsync(client, Json.ValidEmail("same@example.com"), key);
        Assert.Equal(first, second);

        using var req = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = JsonContent.Create(Json.ValidEmail("other@example.com")) };
        req.Headers.Add("Idempotency-Key", key);
        var conflict = await client.SendAsync(req);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, conflict.StatusCode);
        Assert.Equal("https://akkamail.dev/problems/idempotency-conflict", (await conflict.ReadJsonAsync())["type"]!.GetValue<string>());

        await client.WaitForEmailAsync(first, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
        var list = await (await client.GetAsync("/api/emails?recipient=same@example.com")).ReadJsonAsync();
        Assert.Single(list["items"]!.AsArray());
        Assert.Single(Directory.GetFiles(Host.OutboxPath, $"{first}.eml"));

        // Another user with the same key gets its own email.
        var (_, _, other) = await NewUserAsync();
        Assert.NotEqual(first, await SendAsync(other, Json.ValidEmail("same@example.com"), key));
    }

    [Fact]
    public async Task Cancel_works_until_the_provider_has_it_then_409()
    {
        var (_, _, client) = await NewUserAsync();
        var scheduled = await SendAsync(client, new { from = "a@example.com", to = new[] { "x@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddHours(1) });
        var cancel = await client.PostAsync($"/api/emails/{scheduled}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        await client.WaitForEmailAsync(scheduled, e => e["status"]!.GetValue<string>() == "cancelled", TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/api/emails/{scheduled}/cancel", null)).StatusCode);

        var sent = await SendAsync(client);
        await client.WaitForEmailAsync(sent, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
        var tooLate = await client.PostAsync($"/api/emails/{sent}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, tooLate.StatusCode);
        Assert.Equal("https://akkamail.dev/problems/conflict", (await tooLate.ReadJsonAsync())["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Listing_filters_by_status_recipient_tag_and_time()
    {
        var (_, _, client) = await NewUserAsync();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var tagged = await SendAsync(client, new { from = "a@example.com", to = new[] { "Tagged <t@example.com>" }, subject = "s", text = "t", tags = new[] { "promo" } });
        var later = await SendAsync(client, new { from = "a@example.com", to = new[] { "x@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddDays(2) });

        async Task<List<string>> Ids(string query) =>
            (await (await client.GetAsync("/api/emails" + query)).ReadJsonAsync())["items"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()).ToList();

        Assert.Equal(new[] { later, tagged }, await Ids(""));
        Assert.Equal(new[] { tagged }, await Ids("?tag=promo"));
        Assert.Equal(new[] { tagged }, await Ids("?recipient=T@Example.com"));
        Assert.Equal(new[] { later }, await Ids("?status=scheduled"));
        Assert.Empty(await Ids($"?createdBefore={Uri.EscapeDataString(before.ToString("O"))}"));
        Assert.Equal(2, (await Ids($"?createdAfter={Uri.EscapeDataString(before.ToString("O"))}")).Count);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/emails?status=nope")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/emails?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/emails?cursor=garbage!")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/emails?createdAfter=yesterday")).StatusCode);
    }

    [Fact]
    public async Task Pagination_has_no_gaps_or_repeats_while_emails_are_inserted()
    {
        var (_, _, client) = await NewUserAsync();
        var existing = new List<string>();
        for (var i = 0; i < 45; i++) existing.Add(await SendAsync(client));

        using var cts = new CancellationTokenSource();
        var inserter = Task.Run(async () =>
        {
            var n = 0;
            while (!cts.IsCancellationRequested && n++ < 60) { await SendAsync(client); await Task.Delay(5); }
        });
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync($"/api/emails?limit=7{(cursor is null ? "" : "&cursor=" + cursor)}")).ReadJsonAsync();
            seen.AddRange(page["items"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
            cursor = page["nextCursor"]?.GetValue<string>();
            await Task.Delay(10);
        } while (cursor is not null);
        cts.Cancel();
        await inserter;

        Assert.Equal(seen.Count, seen.Distinct().Count());
        // Every email that existed before paging began was seen (xUnit: the first argument is the expected subset).
        Assert.Superset(existing.ToHashSet(), seen.ToHashSet());
        Assert.Equal(existing.AsEnumerable().Reverse(), seen.Where(existing.Contains));
    }

    [Fact]
    public async Task Bounce_complaint_and_unsubscribe_suppress_the_address_for_later_emails()
    {
        var (_, _, client) = await NewUserAsync();
        var gateway = Host.App.Services.GetRequiredService<IEmailGateway>();
        var cases = new[] { (ProviderEventKind.PermanentFailure, "bounced@example.com"), (ProviderEventKind.Complained, "angry@example.com"),
            (ProviderEventKind.Unsubscribed, "gone@example.com") };
        foreach (var (kind, address) in cases)
        {
            var id = await SendAsync(client, Json.ValidEmail(address));
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
            await gateway.ApplyProviderEventAsync(id, new ProviderEvent(Guid.NewGuid().ToString(), kind, address, DateTimeOffset.UtcNow, Reason: "bounce", Code: 550));
        }
        foreach (var (_, address) in cases)
        {
            var deadline = DateTime.UtcNow.AddSeconds(3);
            while ((await client.GetAsync($"/api/suppressions/{address}")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/suppressions/{address}")).StatusCode);
        }
        var list = await (await client.GetAsync("/api/suppressions")).ReadJsonAsync();
        Assert.Equal(3, list["items"]!.AsArray().Count);

        // A later email to a suppressed address and a good one: only the good one is sent to.
        var mixed = await SendAsync(client, new { from = "a@example.com", to = new[] { "bounced@example.com", "fine@example.com" }, subject = "s", text = "t" });
        var email = await client.WaitForEmailAsync(mixed, e => e["status"]!.GetValue<string>() == "partially_failed", TimeSpan.FromSeconds(5));
        var recipients = email["recipients"]!.AsArray().ToDictionary(r => r!["address"]!.GetValue<string>(), r => r!["status"]!.GetValue<string>());
        Assert.Equal("suppressed", recipients["bounced@example.com"]);
        Assert.Equal("delivered", recipients["fine@example.com"]);
        var eml = await File.ReadAllTextAsync(Path.Combine(Host.OutboxPath, $"{mixed}.eml"));
        Assert.DoesNotContain("bounced@example.com", eml);

        // Only suppressed recipients: failed at once, nothing sent.
        var none = await SendAsync(client, Json.ValidEmail("angry@example.com"));
        await client.WaitForEmailAsync(none, e => e["status"]!.GetValue<string>() == "failed", TimeSpan.FromSeconds(3));
        await Task.Delay(300);
        Assert.False(File.Exists(Path.Combine(Host.OutboxPath, $"{none}.eml")));

        // Lifted: sent again.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/api/suppressions/angry@example.com")).StatusCode);
        var again = await SendAsync(client, Json.ValidEmail("angry@example.com"));
        await client.WaitForEmailAsync(again, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Sending_more_than_seven_days_ahead_is_refused()
    {
        var (_, _, client) = await NewUserAsync();
        var r = await client.PostJsonAsync("/api/emails", new { from = "a@example.com", to = new[] { "x@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddDays(8) });
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.NotNull((await r.ReadJsonAsync())["errors"]!["sendAt"]);
    }

    [Fact]
    public async Task OpenApi_document_and_docs_page_are_served()
    {
        using var admin = Host.AdminClient(); // the admin key: see OperationsAccessTests
        var doc = await admin.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, doc.StatusCode);
        var json = await doc.ReadJsonAsync();
        Assert.NotNull(json["paths"]!["/api/emails"]);
        Assert.NotNull(json["paths"]!["/api/emails/{id}/cancel"]);
        Assert.NotNull(json["paths"]!["/api/suppressions"]);
        var docs = await admin.GetAsync("/docs/"); // "/docs" redirects here, and HttpClient drops the key on a redirect
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
    }
}

public sealed class RateLimitTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(extraArgs: new[]
        { "--AkkaMail:RateLimit:PerSecond=1", "--AkkaMail:RateLimit:Burst=3" });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Over_the_per_user_limit_is_429_with_retry_after()
    {
        using var client = _host.AdminClient();
        // A burst of 10 at once: the bucket holds 3 and refills 1 per second, so most are refused however slow the machine.
        var started = DateTime.UtcNow;
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.PostJsonAsync("/api/emails", Json.ValidEmail())));
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        var accepted = responses.Count(r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.InRange(accepted, 3, 3 + (int)Math.Ceiling(seconds));
        var limited = responses.First(r => r.StatusCode == (HttpStatusCode)429);
        Assert.Equal(10, accepted + responses.Count(r => r.StatusCode == (HttpStatusCode)429));
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("https://akkamail.dev/problems/rate-limited", (await limited.ReadJsonAsync())["type"]!.GetValue<string>());
        // Reading is not limited.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/emails")).StatusCode);
        await Task.Delay(1100);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).StatusCode);
    }
}

public sealed class ScheduledEmailTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_scheduled_email_survives_a_restart_and_fires_on_time_not_early()
    {
        var sendAt = DateTimeOffset.UtcNow.AddSeconds(8);
        string id;
        using (var client = _host.AdminClient())
        {
            var r = await client.PostJsonAsync("/api/emails", new { from = "a@example.com", to = new[] { "later@example.com" }, subject = "s", text = "t", sendAt });
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
            var body = await r.ReadJsonAsync();
            Assert.Equal("scheduled", body["status"]!.GetValue<string>());
            id = body["id"]!.GetValue<string>();
        }
        await _host.StopAsync();
        _host = await ServiceHost.StartAsync(_host.DataPath);
        using var again = _host.AdminClient();
        var early = await (await again.GetAsync($"/api/emails/{id}")).ReadJsonAsync();
        Assert.Equal("scheduled", early["status"]!.GetValue<string>());
        Assert.True(DateTimeOffset.UtcNow < sendAt, "the restart took too long for this test to say anything");

        var email = await again.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
        var sending = email["timeline"]!.AsArray().First(t => t!["type"]!.GetValue<string>() == "sending");
        var sentAt = DateTimeOffset.Parse(sending!["at"]!.GetValue<string>());
        Assert.True(sentAt >= sendAt, $"sent at {sentAt:O}, before {sendAt:O}");
        Assert.True(sentAt < sendAt.AddSeconds(3), $"sent at {sentAt:O}, long after {sendAt:O}");
    }
}

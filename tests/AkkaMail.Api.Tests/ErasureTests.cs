using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Users;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Erasure on the embedded defaults (SQLite journal and read model, sandbox outbox), over real HTTP: the raw files of the
/// data folder and the outbox are searched for the erased address and its emails' content.
/// </summary>
public sealed class ErasureTests : IAsyncLifetime
{
    // Erasures are worked on every 200 ms here; the dispatch sweep (which would send the scheduled email) only at start.
    private const string Knobs = "akkamail.erasure.interval = 200ms\nakkamail.sweep.interval = 1h";
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(hoconOverrides: Knobs);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(CreatedUser User, HttpClient Client)> NewUserAsync(ServiceHost host, string name)
    {
        var user = await host.App.Services.GetRequiredService<IUserStore>().CreateUserAsync(name, false, null);
        return (user, host.Client(user.ApiKey));
    }

    private static async Task<string> SendAsync(HttpClient client, object email)
    {
        var post = await client.PostJsonAsync("/api/emails", email);
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        return (await post.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    private static async Task<JsonNode> WaitForErasureAsync(HttpClient client, string location, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var got = await client.GetAsync(location);
            Assert.Equal(HttpStatusCode.OK, got.StatusCode);
            var json = await got.ReadJsonAsync();
            if (json["status"]!.GetValue<string>() == "completed") return json;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"erasure still pending: {json.ToJsonString()}");
            await Task.Delay(100);
        }
    }

    /// <summary>Every file under the data folder (database files with their logs, the outbox) holding the text's UTF-8 bytes.</summary>
    private static List<string> FilesHolding(ServiceHost host, string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        var holding = new List<string>();
        foreach (var path in Directory.EnumerateFiles(host.DataPath, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(path) == "akkamail.lock") continue; // held exclusively, and empty
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var m = new MemoryStream();
            f.CopyTo(m);
            if (m.ToArray().AsSpan().IndexOf(needle) >= 0) holding.Add(Path.GetRelativePath(host.DataPath, path));
        }
        return holding;
    }

    [Fact]
    public async Task An_address_leaves_every_file_other_emails_stay_and_its_suppression_stays_effective_by_hash()
    {
        var marker = Guid.NewGuid().ToString("N")[..12];
        var erased = $"erase-{marker}@example.com";
        var other = $"other-{marker}@example.com";
        var (alice, aliceClient) = await NewUserAsync(_host, "alice");
        var (bob, bobClient) = await NewUserAsync(_host, "bob");
        using var admin = _host.AdminClient();

        // Alice's outbound webhook endpoint logs deliveries whose payloads name the address (a public address that
        // answers nothing here: the deliveries stay in the log).
        var hook = await aliceClient.PostJsonAsync("/api/webhooks/endpoints", new { url = "https://93.184.216.34/hook" });
        Assert.Equal(HttpStatusCode.Created, hook.StatusCode);
        var hookId = (await hook.ReadJsonAsync())["id"]!.GetValue<string>();
        // Alice: one to the address (it bounces: suppressed), one from it, one scheduled to it (unsettled), one to another.
        var to = await SendAsync(aliceClient, new { from = "app@example.com", to = new[] { erased }, subject = $"to-{marker}", text = $"body-to-{marker}" });
        var from = await SendAsync(aliceClient, new { from = $"Erase Me <{erased}>", to = new[] { other }, subject = $"from-{marker}", text = $"body-from-{marker}" });
        var scheduled = await SendAsync(aliceClient, new
        {
            from = "app@example.com", to = new[] { erased }, cc = new[] { other }, subject = $"scheduled-{marker}", text = $"body-scheduled-{marker}",
            sendAt = DateTimeOffset.UtcNow.AddDays(3),
        });
        var kept = await SendAsync(aliceClient, new { from = "app@example.com", to = new[] { other }, subject = $"kept-{marker}", text = $"body-kept-{marker}" });
        // Bob's email to the same address: not Alice's to erase.
        var bobs = await SendAsync(bobClient, new { from = "bob@example.com", to = new[] { erased }, subject = $"bobs-{marker}", text = $"body-bobs-{marker}" });
        foreach (var (client, id) in new[] { (aliceClient, to), (aliceClient, from), (aliceClient, kept), (bobClient, bobs) })
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));
        await aliceClient.WaitForEmailAsync(scheduled, e => e["status"]!.GetValue<string>() == "scheduled", TimeSpan.FromSeconds(10));
        await _host.App.Services.GetRequiredService<IEmailGateway>().ApplyProviderEventAsync(to,
            new ProviderEvent(Guid.NewGuid().ToString(), ProviderEventKind.PermanentFailure, erased, DateTimeOffset.UtcNow, Reason: "no such user", Code: 550));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while ((await aliceClient.GetAsync($"/api/suppressions/{erased}")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(HttpStatusCode.OK, (await aliceClient.GetAsync($"/api/suppressions/{erased}")).StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await aliceClient.GetStringAsync($"/api/webhooks/endpoints/{hookId}/deliveries?limit=100")).Contains(to) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Contains(to, await aliceClient.GetStringAsync($"/api/webhooks/endpoints/{hookId}/deliveries?limit=100"));
        Assert.Contains("events.db", string.Join(",", FilesHolding(_host, erased)));
        // The search index holds the address as its words ("erase <marker> example com").
        Assert.NotEmpty(FilesHolding(_host, $"erase {marker} example com"));
        Assert.NotEmpty(FilesHolding(_host, $"body-to-{marker}"));

        // Bad input and someone else's emails: refused before anything happens.
        var invalid = await aliceClient.PostJsonAsync("/api/erasure", new { address = "not an address" });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal("application/problem+json", invalid.Content.Headers.ContentType!.MediaType);
        Assert.Equal(HttpStatusCode.BadRequest, (await aliceClient.PostAsync("/api/erasure",
            new StringContent("{\"address\":", Encoding.UTF8, "application/json"))).StatusCode);
        var forbidden = await aliceClient.PostJsonAsync("/api/erasure", new { address = erased, userId = bob.UserId });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal("application/problem+json", forbidden.Content.Headers.ContentType!.MediaType);

        // Alice erases the address from her emails.
        var request = await aliceClient.PostJsonAsync("/api/erasure", new { address = erased.ToUpperInvariant() });
        Assert.Equal(HttpStatusCode.Accepted, request.StatusCode);
        var location = request.Headers.Location!.ToString();
        var accepted = await request.ReadJsonAsync();
        Assert.Equal((3, 1, alice.UserId), (accepted["emailsFound"]!.GetValue<int>(), accepted["suppressionsHashed"]!.GetValue<int>(),
            accepted["userId"]!.GetValue<string>()));
        Assert.DoesNotContain(erased, accepted.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        // Bob cannot read Alice's request.
        Assert.Equal(HttpStatusCode.NotFound, (await bobClient.GetAsync(location)).StatusCode);

        var done = await WaitForErasureAsync(aliceClient, location, TimeSpan.FromSeconds(20));
        Assert.Equal((3, 3, 0), (done["emailsFound"]!.GetValue<int>(), done["emailsErased"]!.GetValue<int>(), done["emailsPending"]!.GetValue<int>()));
        Assert.NotNull(done["completedAt"]);
        foreach (var id in new[] { to, from, scheduled })
            Assert.Equal(HttpStatusCode.NotFound, (await aliceClient.GetAsync($"/api/emails/{id}")).StatusCode);
        var log = await aliceClient.GetStringAsync($"/api/webhooks/endpoints/{hookId}/deliveries?limit=100");
        Assert.DoesNotContain(to, log);
        Assert.Contains(kept, log);
        foreach (var part in new[] { "to", "from", "scheduled" })
        {
            Assert.Empty(FilesHolding(_host, $"{part}-{marker}"));
            Assert.Empty(FilesHolding(_host, $"body-{part}-{marker}"));
        }
        // The others' emails are untouched: Alice's to another address, Bob's to the erased one.
        Assert.Equal($"kept-{marker}", (await (await aliceClient.GetAsync($"/api/emails/{kept}")).ReadJsonAsync())["subject"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(_host.OutboxPath, $"{kept}.eml")));
        Assert.Equal("delivered", (await (await bobClient.GetAsync($"/api/emails/{bobs}")).ReadJsonAsync())["status"]!.GetValue<string>());
        Assert.NotEmpty(FilesHolding(_host, $"body-bobs-{marker}"));

        // Her suppression of it is kept as a hash: a later email to it is still not sent.
        Assert.Equal(HttpStatusCode.NotFound, (await aliceClient.GetAsync($"/api/suppressions/{erased}")).StatusCode);
        var again = await SendAsync(aliceClient, new { from = "app@example.com", to = new[] { erased }, subject = $"again-{marker}", text = "t" });
        var refused = await aliceClient.WaitForEmailAsync(again, e => e["status"]!.GetValue<string>() == "failed", TimeSpan.FromSeconds(10));
        Assert.Equal("suppressed", refused["recipients"]![0]!["status"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(_host.OutboxPath, $"{again}.eml")));

        // The admin erases it from every user's emails: then no file holds the address at all.
        var all = await admin.PostJsonAsync("/api/erasure", new { address = erased });
        Assert.Equal(HttpStatusCode.Accepted, all.StatusCode);
        var allDone = await WaitForErasureAsync(admin, all.Headers.Location!.ToString(), TimeSpan.FromSeconds(20));
        Assert.Equal((2, 2), (allDone["emailsFound"]!.GetValue<int>(), allDone["emailsErased"]!.GetValue<int>()));
        Assert.Equal(HttpStatusCode.NotFound, (await aliceClient.GetAsync(all.Headers.Location!.ToString())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(location)).StatusCode);
        Assert.Empty(FilesHolding(_host, erased));
        Assert.Empty(FilesHolding(_host, $"erase {marker} example com"));
        Assert.Empty(FilesHolding(_host, $"body-bobs-{marker}"));
        Assert.NotEmpty(FilesHolding(_host, $"body-kept-{marker}"));
        var last = await SendAsync(aliceClient, new { from = "app@example.com", to = new[] { erased }, subject = "last", text = "t" });
        await aliceClient.WaitForEmailAsync(last, e => e["status"]!.GetValue<string>() == "failed", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_pending_erasure_resumes_after_a_restart()
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "akkamail-test-" + Guid.NewGuid().ToString("N"));
        var marker = Guid.NewGuid().ToString("N")[..12];
        var erased = $"erase-{marker}@example.com";
        string location, id;
        // First run: the worker would only look after an hour. Stopped, not disposed: disposing deletes the data.
        var first = await ServiceHost.StartAsync(dataPath, "akkamail.erasure.interval = 1h");
        {
            using var admin = first.AdminClient();
            id = await SendAsync(admin, new { from = "app@example.com", to = new[] { erased }, subject = $"s-{marker}", text = $"body-{marker}" });
            await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));
            var request = await admin.PostJsonAsync("/api/erasure", new { address = erased });
            Assert.Equal(HttpStatusCode.Accepted, request.StatusCode);
            location = request.Headers.Location!.ToString();
            var pending = await (await admin.GetAsync(location)).ReadJsonAsync();
            Assert.Equal(("pending", 1, 0), (pending["status"]!.GetValue<string>(), pending["emailsPending"]!.GetValue<int>(),
                pending["emailsErased"]!.GetValue<int>()));
            await first.StopAsync();
        }
        await using var second = await ServiceHost.StartAsync(dataPath, Knobs);
        using var again = second.AdminClient();
        var done = await WaitForErasureAsync(again, location, TimeSpan.FromSeconds(20));
        Assert.Equal(1, done["emailsErased"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.NotFound, (await again.GetAsync($"/api/emails/{id}")).StatusCode);
        Assert.Empty(FilesHolding(second, erased));
        Assert.Empty(FilesHolding(second, $"body-{marker}"));
    }
}

/// <summary>
/// Erasure on PostgreSQL (journal and snapshots through Akka.Persistence.Sql, the read model on Npgsql): the journal
/// (deleted rows included), snapshot, read-model, webhook and erasure tables are searched for the address.
/// </summary>
public sealed class PostgresErasureTests : IAsyncLifetime
{
    private readonly AkkaMail.Tests.Postgres.PostgresTestDatabase _database = new("akkamail_erasure");
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        hoconOverrides: "akkamail.erasure.interval = 200ms",
        extraArgs: ["--AkkaMail:Store=postgres", $"--ConnectionStrings:Postgres={_database.ConnectionString}"]);

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Npgsql.NpgsqlConnection.ClearAllPools();
        _database.Dispose();
    }

    private async Task<long> RowsHoldingAsync(string text)
    {
        await using var c = new Npgsql.NpgsqlConnection(_database.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("""
            SELECT (SELECT count(*) FROM journal WHERE position(@needle IN message) > 0)
                 + (SELECT count(*) FROM snapshot WHERE position(@needle IN snapshot) > 0)
                 + (SELECT count(*) FROM emails WHERE position(@needle IN doc) > 0)
                 + (SELECT count(*) FROM suppressions WHERE address = @text)
                 + (SELECT count(*) FROM erasures WHERE position(@needle IN doc) > 0)
            """, c);
        cmd.Parameters.AddWithValue("needle", Encoding.UTF8.GetBytes(text));
        cmd.Parameters.AddWithValue("text", text);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task An_address_leaves_the_tables_and_stays_suppressed()
    {
        using var admin = _host.AdminClient();
        var marker = Guid.NewGuid().ToString("N")[..12];
        var erased = $"erase-{marker}@example.com";
        var post = await admin.PostJsonAsync("/api/emails", new { from = "app@example.com", to = new[] { erased }, subject = $"s-{marker}", text = $"body-{marker}" });
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
        await _host.App.Services.GetRequiredService<IEmailGateway>().ApplyProviderEventAsync(id,
            new ProviderEvent(Guid.NewGuid().ToString(), ProviderEventKind.Complained, erased, DateTimeOffset.UtcNow));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await admin.GetAsync($"/api/suppressions/{erased}")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(await RowsHoldingAsync(erased) >= 3, "journal, read model and suppression hold the address");

        var request = await admin.PostJsonAsync("/api/erasure", new { address = erased });
        Assert.Equal(HttpStatusCode.Accepted, request.StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(20);
        JsonNode record;
        while ((record = await (await admin.GetAsync(request.Headers.Location!.ToString())).ReadJsonAsync())["status"]!.GetValue<string>() != "completed"
               && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(("completed", 1, 1), (record["status"]!.GetValue<string>(), record["emailsErased"]!.GetValue<int>(),
            record["suppressionsHashed"]!.GetValue<int>()));
        Assert.Equal(0, await RowsHoldingAsync(erased));
        Assert.Equal(0, await RowsHoldingAsync($"body-{marker}"));

        var again = await admin.PostJsonAsync("/api/emails", new { from = "app@example.com", to = new[] { erased }, subject = "again", text = "t" });
        var againId = (await again.ReadJsonAsync())["id"]!.GetValue<string>();
        var refused = await admin.WaitForEmailAsync(againId, e => e["status"]!.GetValue<string>() == "failed", TimeSpan.FromSeconds(15));
        Assert.Equal("suppressed", refused["recipients"]![0]!["status"]!.GetValue<string>());
    }
}

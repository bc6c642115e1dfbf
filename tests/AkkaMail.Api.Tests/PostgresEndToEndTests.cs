using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AkkaMail.Tests.Postgres;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The service on PostgreSQL (<c>AkkaMail:Store=postgres</c>), over real HTTP: journal, snapshots and query journal
/// through Akka.Persistence.Sql, every store on Npgsql, in a database of the test's own.
/// </summary>
public sealed class PostgresEndToEndTests : IDisposable
{
    private readonly PostgresTestDatabase _database = new("akkamail_api");

    public void Dispose() => _database.Dispose();

    private string[] Args =>
    [
        "--AkkaMail:Store=postgres",
        $"--ConnectionStrings:Postgres={_database.ConnectionString}",
        // A snapshot after every second event: the restart below recovers the email from a snapshot and the events after it.
        "--AkkaMail:Email:SnapshotEvery=2",
    ];

    [Fact]
    public async Task An_email_is_delivered_listed_and_recovered_after_a_restart()
    {
        var host = await ServiceHost.StartAsync(extraArgs: Args);
        try
        {
            string id;
            using (var client = host.AdminClient())
            {
                await AssertReadyAsync(client);
                var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail("pg@example.com"));
                Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
                id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
                await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
                // The list is the read model's, fed by the projection of the query journal.
                Assert.Contains(id, await ListedIdsAsync(client, "pg@example.com"));
            }

            await host.StopAsync();
            host = await ServiceHost.StartAsync(host.DataPath, extraArgs: Args);
            using (var client = host.AdminClient())
            {
                await AssertReadyAsync(client);
                var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
                Assert.Contains(email["timeline"]!.AsArray(), t => t!["type"]!.GetValue<string>() == "delivered");
                Assert.Contains(id, await ListedIdsAsync(client, "pg@example.com"));
                // Its actor recovers (snapshot and events) and knows the email has gone: too late to cancel.
                var cancel = await client.PostAsync($"/api/emails/{id}/cancel", null);
                Assert.Equal(HttpStatusCode.Conflict, cancel.StatusCode);

                // The journal goes on after the restart: a new email is accepted and delivered, and listed first.
                var next = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail("pg@example.com"))).ReadJsonAsync())["id"]!
                    .GetValue<string>();
                await client.WaitForEmailAsync(next, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
                Assert.Equal([next, id], await ListedIdsAsync(client, "pg@example.com"));
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_read_model_rebuilt_from_the_journal_lists_the_same_emails()
    {
        var host = await ServiceHost.StartAsync(extraArgs: Args);
        try
        {
            string before;
            using (var client = host.AdminClient())
            {
                var ids = new List<string>();
                for (var i = 0; i < 5; i++)
                    ids.Add((await (await client.PostJsonAsync("/api/emails", Json.ValidEmail($"r{i}@example.com"))).ReadJsonAsync())["id"]!
                        .GetValue<string>());
                foreach (var id in ids)
                    await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
                before = await ListAsync(client);
                Assert.Equal(5, JsonNode.Parse(before)!["items"]!.AsArray().Count);
            }

            await host.StopAsync();
            var console = new StringWriter();
            var exit = await Operations.ReadModelRebuild.RunAsync(
                [Operations.ReadModelRebuild.Verb, $"--AkkaMail:DataPath={host.DataPath}", .. Args], console);
            Assert.True(exit == 0, console.ToString());
            Assert.Contains("Done:", console.ToString());

            host = await ServiceHost.StartAsync(host.DataPath, extraArgs: Args);
            using var again = host.AdminClient();
            Assert.Equal(before, await ListAsync(again));
        }
        finally
        {
            await host.DisposeAsync();
        }

        static async Task<string> ListAsync(HttpClient client)
        {
            var list = await client.GetAsync("/api/emails?limit=50");
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            return await list.Content.ReadAsStringAsync();
        }
    }

    [Fact]
    public async Task An_email_from_a_stored_template_is_sent_and_its_changes_reach_an_outbound_webhook_once_each_in_order()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var host = await ServiceHost.StartAsync(extraArgs:
            [.. Args, "--AkkaMail:OutboundWebhooks:AllowLoopback=true", "--AkkaMail:OutboundWebhooks:PollInterval=200ms"]);
        try
        {
            using var client = await OutboundWebhookTests.NewUserAsync(host);
            var (_, secret) = await OutboundWebhookTests.CreateEndpointAsync(client, receiver.Url);
            var template = await client.PostJsonAsync("/api/templates", new { name = "welcome", subject = "Hi {{ name }}", text = "Hello {{ name }}" });
            Assert.Equal(HttpStatusCode.Created, template.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync("/api/templates/welcome", new { subject = "Welcome {{ name }}", text = "Hi" })).StatusCode);

            var post = await client.PostJsonAsync("/api/emails", new
            {
                from = "app@example.com", to = new[] { "pg@example.com" }, template = "welcome", variables = new { name = "Ada" },
            });
            Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
            var accepted = await post.ReadJsonAsync();
            Assert.Equal(2, accepted["templateVersion"]!.GetValue<int>());
            var id = accepted["id"]!.GetValue<string>();
            var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
            Assert.Equal("Welcome Ada", email["subject"]!.GetValue<string>());
            var version = email["version"]!.GetValue<long>();

            // The projection stored a delivery per change, the worker claimed and sent each: every change once, in order.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (DateTime.UtcNow < deadline && receiver.Requests.Count(r => r.Answered == 200) < version) await Task.Delay(100);
            await Task.Delay(500); // room for a duplicate to show up
            var received = receiver.Requests.Where(r => r.Json["data"]?["emailId"]?.GetValue<string>() == id).ToList();
            Assert.All(received, r => Assert.True(StandardWebhooksVerifier.Verify(secret, r), $"bad signature on {r.Id}"));
            Assert.Equal(Enumerable.Range(1, (int)version).Select(v => (long)v), received.Select(r => r.Json["data"]!["version"]!.GetValue<long>()));
            Assert.Equal("delivered", received[^1].Json["type"]!.GetValue<string>());
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static async Task<string[]> ListedIdsAsync(HttpClient client, string recipient)
    {
        var list = await client.GetAsync($"/api/emails?recipient={recipient}");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        return (await list.ReadJsonAsync())["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()).ToArray();
    }

    /// <summary>/health/ready answers 200 with the journal, the snapshot store and the read model healthy (each asks
    /// PostgreSQL).</summary>
    private static async Task AssertReadyAsync(HttpClient admin)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        JsonNode? body = null;
        while (DateTime.UtcNow < deadline)
        {
            var r = await admin.GetAsync("/health/ready");
            body = await r.ReadJsonAsync();
            if (r.StatusCode == HttpStatusCode.OK) break;
            await Task.Delay(200);
        }
        Assert.True(body?["status"]?.GetValue<string>() == "healthy", body?.ToJsonString());
        foreach (var check in new[] { "journal", "snapshot-store", "read-model" })
            Assert.Equal("healthy", body!["checks"]![check]!["status"]!.GetValue<string>());
        Assert.Contains("PostgreSQL", body!["checks"]!["journal"]!["detail"]!.GetValue<string>());
        Assert.Contains("PostgreSQL", body["checks"]!["snapshot-store"]!["detail"]!.GetValue<string>());
    }
}

using System.Net;
using System.Text.Json;
using Akka.Actor;
using AkkaMail.Api.Operations;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Hosting;
using AkkaMail.MailgunFake;
using AkkaMail.Projections;
using AkkaMail.Providers;
using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;
using AkkaMail.Serialization;
using AkkaMail.Suppressions;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>The read side as a projection of the journal: rebuilt from it, and never ahead of it.</summary>
public sealed class ReadSideTests(ITestOutputHelper output)
{
    private const string Key = "sk-read-side";
    private static readonly string[] Args = [$"--Mailgun:WebhookSigningKey={Key}"];

    private static byte[] Bounce(string providerMessageId, string recipient, string emailId) =>
        FakeMailgunEvents.BuildWebhook(MailgunWebhooks.Message(providerMessageId, recipient, emailId), recipient,
            FakeWebhookEvent.PermanentFailure, Key, DateTimeOffset.UtcNow).Body;

    private static async Task CaughtUpAsync(ServiceHost host)
    {
        var progress = host.App.Services.GetRequiredService<ProjectionProgress>();
        var head = await host.App.Services.GetRequiredService<JournalHead>().HighestOrderingAsync() ?? 0;
        await progress.WhenReached(head).WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Every view (all fields) and every suppression, read straight from the read model's file.</summary>
    private static async Task<(Dictionary<string, string> Views, string Suppressions)> SnapshotAsync(string dataPath, IEnumerable<string> ids, string userId)
    {
        var db = new SqliteDatabase(Path.Combine(dataPath, "akkamail.db"));
        using var store = new SqliteEmailReadStore(db);
        var views = new Dictionary<string, string>();
        foreach (var id in ids)
            views[id] = JsonSerializer.Serialize(await store.GetAsync(id), EmailEventSerializer.Json);
        var suppressions = await new SqliteSuppressionStore(db).ListAsync(userId, 1000, null);
        return (views, JsonSerializer.Serialize(suppressions, EmailEventSerializer.Json));
    }

    [Fact]
    public async Task Rebuilding_the_read_model_from_the_journal_gives_identical_views_and_suppressions()
    {
        var host = await ServiceHost.StartAsync(extraArgs: Args);
        var dataPath = host.DataPath;
        try
        {
            using var admin = host.AdminClient();
            var me = await (await admin.GetAsync("/api/users/me")).ReadJsonAsync();
            var userId = me["id"]!.GetValue<string>();
            var ids = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                var r = await admin.PostJsonAsync("/api/emails", new
                {
                    from = "App <app@example.com>", to = new[] { $"r{i}@example.com", $"s{i}@example.com" }, subject = $"n{i}", text = "t",
                    tags = new[] { "t" + (i % 3) },
                });
                Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
                ids.Add((await r.ReadJsonAsync())["id"]!.GetValue<string>());
            }
            // One scheduled and cancelled.
            var later = await admin.PostJsonAsync("/api/emails", new
            {
                from = "a@example.com", to = new[] { "later@example.com" }, subject = "later", text = "t", sendAt = DateTimeOffset.UtcNow.AddDays(1),
            });
            var laterId = (await later.ReadJsonAsync())["id"]!.GetValue<string>();
            ids.Add(laterId);
            Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"/api/emails/{laterId}/cancel", null)).StatusCode);
            // Bounces for a few recipients (suppressed), one suppression lifted afterwards.
            using var anon = host.Client();
            for (var i = 0; i < 5; i++)
            {
                var sent = await admin.WaitForEmailAsync(ids[i], e => e["providerMessageId"] is not null && e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(20));
                var b = await anon.PostWebhookAsync(Bounce(sent["providerMessageId"]!.GetValue<string>(), $"s{i}@example.com", ids[i]));
                Assert.Equal(HttpStatusCode.OK, b.StatusCode);
            }
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/suppressions/s0@example.com")).StatusCode);
            foreach (var id in ids[5..^1])
                await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(20));
            await CaughtUpAsync(host);
            var before = await SnapshotAsync(dataPath, ids, userId);
            Assert.Equal(4, JsonDocument.Parse(before.Suppressions).RootElement.GetArrayLength());

            // Not while the service runs on the same files.
            var refused = new StringWriter();
            Assert.Equal(2, await ReadModelRebuild.RunAsync([ReadModelRebuild.Verb, $"--AkkaMail:DataPath={dataPath}"], refused));
            Assert.Contains("stop it", refused.ToString());

            await host.StopAsync();
            var console = new StringWriter();
            var exit = await ReadModelRebuild.RunAsync([ReadModelRebuild.Verb, $"--AkkaMail:DataPath={dataPath}"], console);
            output.WriteLine(console.ToString());
            Assert.Equal(0, exit);
            Assert.Contains("Done:", console.ToString());

            var after = await SnapshotAsync(dataPath, ids, userId);
            foreach (var id in ids) Assert.Equal(before.Views[id], after.Views[id]);
            Assert.Equal(before.Suppressions, after.Suppressions);

            // And the service runs on the rebuilt read model.
            host = await ServiceHost.StartAsync(dataPath, extraArgs: Args);
            using var again = host.AdminClient();
            Assert.Equal("cancelled", (await (await again.GetAsync($"/api/emails/{laterId}")).ReadJsonAsync())["status"]!.GetValue<string>());
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    /// <summary>A gateway whose provider events never finish: the process dies while the event is being applied.
    /// (Reads of an email's state answer Unavailable, so the read model answers from its views.)</summary>
    private sealed class HangingGateway : IEmailGateway
    {
        public readonly TaskCompletionSource Entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public async Task<ProviderEventResult> ApplyProviderEventAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default)
        {
            Entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
            throw new InvalidOperationException("unreachable");
        }

        public Task<EmailStateResult> GetStateAsync(string emailId, CancellationToken ct = default) =>
            Task.FromResult<EmailStateResult>(new EmailStateResult.Unavailable(emailId));
        public Task<AcceptResult> AcceptAsync(EmailSubmission submission, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<CancelResult> CancelAsync(string emailId, CancellationToken ct = default) => throw new NotSupportedException();
    }

    [Fact]
    public async Task A_webhook_cut_off_by_a_kill_while_its_event_was_applied_is_applied_when_Mailgun_retries_it()
    {
        var host = await ServiceHost.StartAsync(extraArgs: Args);
        var dataPath = host.DataPath;
        try
        {
            using var admin = host.AdminClient();
            var r = await admin.PostJsonAsync("/api/emails", Json.ValidEmail("bounce@example.com"));
            var id = (await r.ReadJsonAsync())["id"]!.GetValue<string>();
            var sent = await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(20));
            var body = Bounce(sent["providerMessageId"]!.GetValue<string>(), "bounce@example.com", id);
            await host.StopAsync();

            // The first delivery of the webhook: the process dies (is stopped) while the event is being applied.
            var hanging = new HangingGateway();
            // (A short drain: stopping waits for requests in flight up to the drain deadline plus 15 s.)
            host = await ServiceHost.StartAsync(dataPath, hoconOverrides: "akkamail.shutdown.drain-timeout = 1s", extraArgs: Args,
                configure: b => b.Services.AddSingleton<IEmailGateway>(hanging));
            using (var client = host.Client())
            {
                var cut = client.PostWebhookAsync(body);
                await hanging.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
                await host.StopAsync();
                try { await cut.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { /* the connection died with the host */ }
            }

            // Mailgun retries the same body (same token): it must be applied, not refused as a replay.
            host = await ServiceHost.StartAsync(dataPath, extraArgs: Args);
            using var retry = host.Client();
            var answer = await retry.PostWebhookAsync(body);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("applied", (await answer.ReadJsonAsync())["status"]!.GetValue<string>());
            using var admin2 = host.AdminClient();
            var email = await (await admin2.GetAsync($"/api/emails/{id}")).ReadJsonAsync();
            Assert.Equal("failed", email["recipients"]![0]!["status"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.OK, (await admin2.GetAsync("/api/suppressions/bounce@example.com")).StatusCode);
            // Now the token is spent.
            Assert.Equal(HttpStatusCode.NotAcceptable, (await retry.PostWebhookAsync(body)).StatusCode);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task While_the_projection_is_behind_a_GET_answers_what_the_actor_answered()
    {
        await using var host = await ServiceHost.StartAsync();
        using var admin = host.AdminClient();
        var r = await admin.PostJsonAsync("/api/emails", Json.ValidEmail());
        var id = (await r.ReadJsonAsync())["id"]!.GetValue<string>();
        await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(20));
        await CaughtUpAsync(host);

        // Stop the projection: the journal moves on, the read model does not.
        var system = host.App.Services.GetRequiredService<ActorSystem>();
        var runner = await system.ActorSelection("/user/" + ReadSideHosting.RunnerName).ResolveOne(TimeSpan.FromSeconds(3));
        await runner.GracefulStop(TimeSpan.FromSeconds(3));
        var cancel = await admin.PostJsonAsync("/api/emails", new
        {
            from = "a@example.com", to = new[] { "b@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddDays(1),
        });
        var laterId = (await cancel.ReadJsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"/api/emails/{laterId}/cancel", null)).StatusCode);

        // The read model has no view of it at all, yet GET answers what the actor answered: cancelled.
        var backend = host.App.Services.GetRequiredService<StoreRegistration.EmailReadStoreBackend>().Store;
        Assert.Null(await backend.GetAsync(laterId));
        var got = await admin.GetAsync($"/api/emails/{laterId}");
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.Equal("cancelled", (await got.ReadJsonAsync())["status"]!.GetValue<string>());
        // Someone else's, or nobody's, is still 404.
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/emails/0123456789abcdef0123456789abcdef")).StatusCode);
        // And the readiness check says how far behind it is.
        var ready = await (await host.AdminClient().GetAsync("/health/ready")).ReadJsonAsync();
        Assert.Contains("events,", ready["checks"]!["read-model"]!["detail"]!.GetValue<string>());
    }
}

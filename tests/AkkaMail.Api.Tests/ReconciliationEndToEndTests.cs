using System.Net;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using AkkaMail.MailgunFake;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Reconciliation with Mailgun's webhooks disabled entirely (the fake posts none; its events API holds what happened, with
/// the ids its webhooks would carry), real HTTP on loopback and a controllable clock shared by the service and the fake:
/// before the minimum age nothing is asked; after it every email reaches its true final status from the events API
/// alone; the same events arriving late as webhooks change nothing; after the provider's retention an email still
/// without a final fate is marked "no report from provider", once.
/// </summary>
public sealed class ReconciliationEndToEndTests : IAsyncLifetime
{
    private const string SigningKey = "sk-recon";
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private MailgunFakeServer _mailgun = null!;
    private ServiceHost _host = null!;

    public async Task InitializeAsync()
    {
        _mailgun = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.recon.test", ApiKey = "key-recon", WebhookSigningKey = SigningKey, TimeProvider = _clock,
            WebhookUrl = null,
            EventsFor = recipient => recipient.StartsWith("bounce", StringComparison.Ordinal) ? [FakeWebhookEvent.PermanentFailure]
                : recipient.StartsWith("slow", StringComparison.Ordinal) ? [FakeWebhookEvent.TemporaryFailure]
                : [FakeWebhookEvent.Delivered],
        });
        // The job runs only when asked here (its interval is an hour); its age checks follow the shared clock.
        _host = await ServiceHost.StartAsync(
            hoconOverrides: "akkamail.reconciliation.interval = 1h\nakkamail.sweep.interval = 1h",
            extraArgs:
            [
                "--AkkaMail:Provider=mailgun",
                $"--Mailgun:BaseUrl={_mailgun.BaseUrl}", $"--Mailgun:Domain={_mailgun.Domain}", $"--Mailgun:ApiKey={_mailgun.ApiKey}",
                $"--Mailgun:WebhookSigningKey={SigningKey}",
            ],
            configure: b => b.Services.AddSingleton<TimeProvider>(_clock));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _mailgun.DisposeAsync();
    }

    private async Task<ReconciliationRun> ReconcileAsync()
    {
        var job = _host.App.Services.GetRequiredService<ActorRegistry>().Get<ReconciliationActor>();
        return await job.Ask<ReconciliationRun>(ReconciliationActor.RunNow.Instance, TimeSpan.FromSeconds(60));
    }

    private static string Status(JsonNode email) => email["status"]!.GetValue<string>();

    [Fact]
    public async Task Without_webhooks_every_email_reaches_its_true_final_status_and_late_webhooks_change_nothing()
    {
        using var client = _host.AdminClient();
        var recipients = new Dictionary<string, string[]>
        {
            ["delivered"] = ["ann@example.com"],
            ["failed"] = ["bounce@example.com"],
            ["partially_failed"] = ["bob@example.com", "bounce-too@example.com"],
            ["sent"] = ["slow@example.com"], // only a temporary failure: no final fate ever comes
        };
        var ids = new Dictionary<string, string>();
        foreach (var (expected, to) in recipients)
        {
            var post = await client.PostJsonAsync("/api/emails", new { from = "app@example.com", to, subject = expected, text = "Hi" });
            Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
            ids[expected] = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        }
        foreach (var id in ids.Values)
            await client.WaitForEmailAsync(id, e => Status(e) == "sent", TimeSpan.FromSeconds(20));
        await _mailgun.WaitForWebhooksAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(_mailgun.WebhookDeliveries);

        // Younger than the minimum age (30 min): not asked about.
        var early = await ReconcileAsync();
        Assert.Null(early.Error);
        Assert.Equal(0, early.Checked);
        Assert.Equal(0, _mailgun.EventSearchCount);

        _clock.Advance(TimeSpan.FromMinutes(31));
        var run = await ReconcileAsync();
        Assert.Null(run.Error);
        Assert.Equal(4, run.Checked);
        // An accepted and an outcome event for each of the five recipients, none known before.
        Assert.Equal(10, run.Applied);
        Assert.Equal(0, run.Duplicates);
        var before = new Dictionary<string, JsonNode>();
        foreach (var (expected, id) in ids)
        {
            before[expected] = await client.WaitForEmailAsync(id, e => Status(e) == expected, TimeSpan.FromSeconds(20));
            Assert.All(before[expected]["timeline"]!.AsArray().Where(t => t!["recipient"] is not null),
                t => Assert.Equal("mailgun", t!["provider"]!.GetValue<string>()));
        }
        Assert.Equal("deferred", before["sent"]["recipients"]![0]!["status"]!.GetValue<string>());

        // The same events arrive late as webhooks (same ids, fresh signatures): answered 200, recorded nowhere.
        var late = await _mailgun.PostLoggedEventsAsync(new Uri(_host.BaseAddress, MailgunWebhooks.Path).ToString());
        Assert.Equal(10, late.Count);
        Assert.All(late, d => Assert.Equal(200, d.StatusCode));
        // Then one new event per email, through the same path: once it shows, everything before it has been applied.
        foreach (var (expected, id) in ids)
        {
            var message = _mailgun.Messages.Single(m => m.Variables["email-id"] == id);
            var delivery = await _mailgun.PostWebhookAsync(message, message.Recipients[0], FakeWebhookEvent.Complained,
                new Uri(_host.BaseAddress, MailgunWebhooks.Path).ToString());
            Assert.Equal(200, delivery.StatusCode);
            var after = await client.WaitForEmailAsync(id, e => e["recipients"]!.AsArray().Any(r => r!["complained"]!.GetValue<bool>()),
                TimeSpan.FromSeconds(20));
            Assert.Equal(before[expected]["version"]!.GetValue<long>() + 1, after["version"]!.GetValue<long>());
            Assert.Equal(before[expected]["timeline"]!.AsArray().Count + 1, after["timeline"]!.AsArray().Count);
            Assert.Equal(expected, Status(after));
        }

        // Past Mailgun's retention (3 days) with no final fate: marked on the timeline, once, and no longer asked about.
        _clock.Advance(TimeSpan.FromDays(3));
        var last = await ReconcileAsync();
        Assert.Null(last.Error);
        Assert.Equal(1, last.Checked);
        Assert.Equal(1, last.Marked);
        var silent = await client.WaitForEmailAsync(ids["sent"],
            e => e["timeline"]!.AsArray().Any(t => t!["type"]!.GetValue<string>() == "no_report_from_provider"), TimeSpan.FromSeconds(20));
        var marker = silent["timeline"]!.AsArray().Single(t => t!["type"]!.GetValue<string>() == "no_report_from_provider")!;
        Assert.Equal("slow@example.com", marker["recipient"]!.GetValue<string>());
        Assert.Equal("mailgun", marker["provider"]!.GetValue<string>());
        Assert.Equal("sent", Status(silent));
        await WaitUntilAsync(async () => (await ReconcileAsync()).Checked == 0, TimeSpan.FromSeconds(20));

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(@"akkamail_reconciliation_reports_total\{[^}]*outcome=""applied""[^}]*\} 10\b", metrics);
        Assert.Matches(@"akkamail_reconciliation_reports_total\{[^}]*outcome=""marked""[^}]*\} 1\b", metrics);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not hold in time");
            await Task.Delay(100);
        }
    }
}

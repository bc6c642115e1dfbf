using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The service with Mailgun as provider, pointed at the Mailgun fake, and the fake posting signed webhooks back to the
/// service's /api/webhooks/mailgun: all over real HTTP on loopback.
/// </summary>
public sealed class MailgunFakeHostFixture : IAsyncLifetime
{
    public const string SigningKey = "sk-e2e-webhooks";
    public MailgunFakeServer Fake { get; private set; } = null!;
    public ServiceHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // Each side must know the other's address before it starts: reserve the service's port first.
        var port = FreePort();
        Fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.akkamail.test",
            ApiKey = "key-e2e",
            WebhookUrl = $"http://127.0.0.1:{port}{MailgunWebhooks.Path}",
            WebhookSigningKey = SigningKey,
            WebhookEvents = [FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered],
        });
        Host = await ServiceHost.StartAsync(extraArgs:
        [
            "--urls", $"http://127.0.0.1:{port}",
            "--AkkaMail:Provider=mailgun",
            $"--Mailgun:BaseUrl={Fake.BaseUrl}",
            $"--Mailgun:Domain={Fake.Domain}",
            $"--Mailgun:ApiKey={Fake.ApiKey}",
            $"--Mailgun:WebhookSigningKey={SigningKey}",
        ]);
    }

    public async Task DisposeAsync()
    {
        await Fake.DisposeAsync();
        await Host.DisposeAsync();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

public sealed class MailgunEndToEndTests(MailgunFakeHostFixture fixture) : IClassFixture<MailgunFakeHostFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);
    private ServiceHost Host => fixture.Host;
    private MailgunFakeServer Fake => fixture.Fake;

    private async Task<(string Id, FakeSentMessage Sent)> SendAsync(HttpClient client, string to, object? extra = null)
    {
        var post = await client.PostJsonAsync("/api/emails", extra ?? new
        {
            from = "App <app@example.com>",
            to = new[] { to },
            subject = "Hello",
            text = "Hi there",
        });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        var deadline = DateTime.UtcNow + Within;
        while (DateTime.UtcNow < deadline)
        {
            if (Fake.Messages.FirstOrDefault(m => m.Variables.TryGetValue("email-id", out var v) && v == id) is { } sent)
                return (id, sent);
            await Task.Delay(20);
        }
        throw new TimeoutException($"the fake never received email {id}");
    }

    private static Task<JsonNode> WaitForStatusAsync(HttpClient client, string id, string status) =>
        client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == status, Within);

    private static async Task<long> VersionAsync(HttpClient client, string id) =>
        (await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync())["version"]!.GetValue<long>();

    private static FakeWebhookDelivery DeliveryOf(MailgunFakeServer fake, FakeSentMessage sent, string eventType) =>
        fake.WebhookDeliveries.Single(d => d.MessageId == sent.MessageId && d.EventType == eventType);

    [Fact]
    public async Task Email_is_accepted_by_the_fake_with_all_its_fields_then_webhooks_move_it_to_delivered_then_opened()
    {
        using var client = Host.AdminClient();
        var pdf = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();
        var (id, sent) = await SendAsync(client, "alice@example.com", new
        {
            from = "App <app@example.com>",
            to = new[] { "Alice <alice@example.com>" },
            replyTo = "support@example.com",
            subject = "Your receipt",
            text = "Thanks!",
            html = "<p>Thanks!</p>",
            tags = new[] { "receipt", "spring" },
            headers = new Dictionary<string, string> { ["X-Campaign"] = "spring" },
            variables = new Dictionary<string, string> { ["order"] = "42" },
            attachments = new[]
            {
                new { fileName = "receipt.pdf", contentType = "application/pdf", content = Convert.ToBase64String(pdf) },
                new { fileName = "note.txt", contentType = "text/plain", content = Convert.ToBase64String("hello"u8.ToArray()) },
            },
        });

        // What Mailgun received.
        Assert.Equal("App <app@example.com>", sent.From);
        Assert.Equal(["Alice <alice@example.com>"], sent.To);
        Assert.Equal("Your receipt", sent.Subject);
        Assert.Equal("Thanks!", sent.Text);
        Assert.Equal("<p>Thanks!</p>", sent.Html);
        Assert.Equal(id, sent.Variables["email-id"]);
        Assert.Equal("42", sent.Variables["order"]);
        Assert.Equal(["receipt", "spring"], sent.Tags);
        Assert.Equal("support@example.com", sent.ReplyTo);
        Assert.Equal("spring", sent.Headers["X-Campaign"]);
        Assert.Equal(2, sent.Attachments.Count);
        Assert.Equal("receipt.pdf", sent.Attachments[0].FileName);
        Assert.Equal("application/pdf", sent.Attachments[0].ContentType);
        Assert.Equal(pdf, sent.Attachments[0].Content);
        Assert.Equal("note.txt", sent.Attachments[1].FileName);
        Assert.Equal("hello", Encoding.UTF8.GetString(sent.Attachments[1].Content));

        // The fake's accepted + delivered webhooks.
        var email = await WaitForStatusAsync(client, id, "delivered");
        Assert.Equal(sent.MessageId, email["providerMessageId"]!.GetValue<string>());
        Assert.DoesNotContain("<", sent.MessageId);
        var recipient = Assert.Single(email["recipients"]!.AsArray());
        Assert.Equal("alice@example.com", recipient!["address"]!.GetValue<string>());
        Assert.Equal("delivered", recipient["status"]!.GetValue<string>());
        Assert.Equal(250, recipient["code"]!.GetValue<int>());
        var types = email["timeline"]!.AsArray().Select(t => t!["type"]!.GetValue<string>()).ToList();
        Assert.Contains("sent", types);
        Assert.Contains("accepted", types);
        Assert.All(Fake.WebhookDeliveries.Where(d => d.MessageId == sent.MessageId), d => Assert.Equal(200, d.StatusCode));

        var opened = await Fake.PostWebhookAsync(sent, "alice@example.com", FakeWebhookEvent.Opened);
        Assert.Equal(200, opened.StatusCode);
        email = await WaitForStatusAsync(client, id, "opened");
        Assert.Equal(1, email["recipients"]![0]!["opens"]!.GetValue<int>());

        var clicked = await Fake.PostWebhookAsync(sent, "alice@example.com", FakeWebhookEvent.Clicked with { Url = "https://example.com/receipt" });
        Assert.Equal(200, clicked.StatusCode);
        email = await WaitForStatusAsync(client, id, "clicked");
        Assert.Equal("https://example.com/receipt", email["recipients"]![0]!["clickedUrls"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task Permanent_failure_webhook_moves_a_single_recipient_email_to_failed()
    {
        using var client = Host.AdminClient();
        var (id, sent) = await SendAsync(client, "bounce@example.com");
        await WaitForStatusAsync(client, id, "delivered");

        // A delayed bounce: outranks the delivery.
        var failed = await Fake.PostWebhookAsync(sent, "bounce@example.com", FakeWebhookEvent.PermanentFailure);
        Assert.Equal(200, failed.StatusCode);
        var email = await WaitForStatusAsync(client, id, "failed");
        var r = email["recipients"]![0]!;
        Assert.Equal("failed", r["status"]!.GetValue<string>());
        Assert.Equal("bounce", r["reason"]!.GetValue<string>());
        Assert.Equal(550, r["code"]!.GetValue<int>());
        Assert.Contains(email["timeline"]!.AsArray(), t => t!["type"]!.GetValue<string>() == "permanent_failure");

        // A later temporary failure or delivery does not move it back.
        Assert.Equal(200, (await Fake.PostWebhookAsync(sent, "bounce@example.com", FakeWebhookEvent.TemporaryFailure)).StatusCode);
        Assert.Equal(200, (await Fake.PostWebhookAsync(sent, "bounce@example.com", FakeWebhookEvent.Delivered)).StatusCode);
        await Task.Delay(300);
        Assert.Equal("failed", (await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync())["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Replaying_a_webhook_changes_nothing()
    {
        using var client = Host.AdminClient();
        var (id, sent) = await SendAsync(client, "replay@example.com");
        await WaitForStatusAsync(client, id, "delivered");
        await Fake.WaitForWebhooksAsync(Within);
        await Task.Delay(200); // let the read model settle
        var version = await VersionAsync(client, id);

        var delivered = DeliveryOf(Fake, sent, "delivered");
        using var anonymous = Host.Client();
        // The same body (same token): a replay.
        var replay = await anonymous.PostWebhookAsync(delivered.Body);
        Assert.Equal(HttpStatusCode.NotAcceptable, replay.StatusCode);
        // The same event under a fresh signature: authentic, but already applied (deduplicated by event id).
        var resigned = await anonymous.PostWebhookAsync(MailgunWebhooks.Resign(delivered.Body, MailgunFakeHostFixture.SigningKey));
        Assert.Equal(HttpStatusCode.OK, resigned.StatusCode);
        Assert.Equal("duplicate", (await resigned.ReadJsonAsync())["status"]!.GetValue<string>());

        await Task.Delay(300);
        Assert.Equal(version, await VersionAsync(client, id));
    }

    [Fact]
    public async Task A_forged_webhook_gets_401_and_changes_nothing()
    {
        using var client = Host.AdminClient();
        var (id, sent) = await SendAsync(client, "forged@example.com");
        await WaitForStatusAsync(client, id, "delivered");
        await Fake.WaitForWebhooksAsync(Within);
        await Task.Delay(200);
        var version = await VersionAsync(client, id);

        using var anonymous = Host.Client();
        // Signed with a key that is not ours.
        var forged = FakeMailgunEvents.BuildWebhook(sent, "forged@example.com", FakeWebhookEvent.PermanentFailure, "attacker-key", DateTimeOffset.UtcNow).Body;
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostWebhookAsync(forged)).StatusCode);
        // A genuine signature block lifted from another webhook, glued to a forged event: the token was used.
        var genuine = JsonNode.Parse(DeliveryOf(Fake, sent, "delivered").Body)!["signature"]!.DeepClone();
        var glued = JsonNode.Parse(forged)!.AsObject();
        glued["signature"] = genuine;
        Assert.Equal(HttpStatusCode.NotAcceptable, (await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(glued.ToJsonString()))).StatusCode);
        // Tampered timestamp.
        var tampered = JsonNode.Parse(Fake.BuildWebhookBody(sent, "forged@example.com", FakeWebhookEvent.PermanentFailure).Body)!.AsObject();
        tampered["signature"]!["timestamp"] = (long.Parse(tampered["signature"]!["timestamp"]!.GetValue<string>()) + 1).ToString();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(tampered.ToJsonString()))).StatusCode);

        await Task.Delay(300);
        var email = await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync();
        Assert.Equal("delivered", email["status"]!.GetValue<string>());
        Assert.Equal(version, email["version"]!.GetValue<long>());
    }

    [Fact]
    public async Task Mailgun_refusal_fails_the_email_and_rate_limits_are_retried()
    {
        using var client = Host.AdminClient();
        // The fake checks recipients like Mailgun; a 400 is permanent.
        Fake.EnqueueFailures(400);
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail("refused@example.com"));
        var refusedId = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        var refused = await WaitForStatusAsync(client, refusedId, "failed");
        Assert.Contains("mailgun 400", refused["failureReason"]!.GetValue<string>());

        // 429 is transient: retried after the wait Mailgun asks for (and our backoff), then sent and delivered.
        Fake.EnqueueFailures(429);
        post = await client.PostJsonAsync("/api/emails", Json.ValidEmail("limited@example.com"));
        var limitedId = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        var limited = await client.WaitForEmailAsync(limitedId, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(20));
        Assert.Contains(limited["timeline"]!.AsArray(), t => t!["type"]!.GetValue<string>() == "retry_scheduled"
            && t["detail"]!.GetValue<string>().Contains("mailgun 429"));
        Assert.Equal(2, limited["attempt"]!.GetValue<int>());
    }
}

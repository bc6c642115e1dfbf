using AkkaMail.Providers;
using System.Net;
using System.Threading.Channels;
using AkkaMail.MailgunFake;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Mailgun.Tests;

/// <summary>A tiny webhook receiver on loopback: records bodies, answers with a configurable status.</summary>
public sealed class WebhookListener : IAsyncDisposable
{
    private readonly WebApplication _app;
    public Channel<byte[]> Bodies { get; } = Channel.CreateUnbounded<byte[]>();
    public int StatusToAnswer { get; set; } = 200;
    public string Url { get; }

    private WebhookListener(WebApplication app, string url) { _app = app; Url = url; }

    public static async Task<WebhookListener> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        WebhookListener? self = null;
        app.MapPost("/hooks/mailgun", async (HttpContext ctx) =>
        {
            using var ms = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(ms);
            await self!.Bodies.Writer.WriteAsync(ms.ToArray());
            ctx.Response.StatusCode = self.StatusToAnswer;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new WebhookListener(app, address.TrimEnd('/') + "/hooks/mailgun");
        return self;
    }

    public async Task<List<byte[]>> TakeAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var list = new List<byte[]>();
        while (list.Count < count) list.Add(await Bodies.Reader.ReadAsync(cts.Token));
        return list;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed class WebhookEndToEndTests
{
    private const string SigningKey = "whsk-test-signing-key";

    [Fact]
    public async Task Fake_posts_signed_events_per_recipient_that_verify_and_parse()
    {
        await using var listener = await WebhookListener.StartAsync();
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            WebhookUrl = listener.Url,
            WebhookSigningKey = SigningKey,
            WebhookEvents = [FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered, FakeWebhookEvent.Opened, FakeWebhookEvent.Clicked],
            WebhookDelay = TimeSpan.FromMilliseconds(5),
        });
        using var http = new HttpClient();
        var client = new MailgunClient(http, fake.ClientOptions());
        var accepted = Assert.IsType<MailgunSendResult.Accepted>(await client.SendAsync(new MailgunMessage
        {
            From = "AkkaMail <noreply@sandbox.akkamail.test>",
            To = ["Alice <alice@example.com>"],
            Cc = ["bob@example.org"],
            Subject = "Hi",
            Html = "<b>hi</b>",
            Tags = ["welcome"],
            Variables = new Dictionary<string, string> { ["email-id"] = "e-42" },
        }, default));

        var bodies = await listener.TakeAsync(8, TimeSpan.FromSeconds(20));
        var verifier = new MailgunWebhookVerifier(SigningKey, TimeProvider.System, TimeSpan.FromMinutes(5));
        var tokens = new InMemoryWebhookTokenStore();
        var events = new List<MailgunEvent>();
        foreach (var body in bodies)
        {
            var webhook = Assert.IsType<MailgunWebhookParseResult.Success>(MailgunWebhookParser.Parse(body)).Webhook;
            Assert.Equal(WebhookVerification.Valid, await verifier.VerifyAndRememberAsync(webhook.Signature, tokens));
            Assert.Equal(WebhookVerification.Replayed, await verifier.VerifyAndRememberAsync(webhook.Signature, tokens));
            Assert.Equal(WebhookVerification.BadSignature, new MailgunWebhookVerifier("other-key", TimeProvider.System, TimeSpan.FromMinutes(5)).Verify(webhook.Signature));
            events.Add(webhook.Event);
        }
        Assert.All(events, e =>
        {
            Assert.Equal(accepted.MessageId, e.MessageId);
            Assert.Equal("e-42", e.UserVariables["email-id"]);
            Assert.Equal(["welcome"], e.Tags);
            Assert.InRange(e.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        });
        Assert.Equal(8, events.Select(e => e.Id).Distinct().Count());
        foreach (var recipient in new[] { "alice@example.com", "bob@example.org" })
        {
            var mine = events.Where(e => e.Recipient == recipient).ToList();
            Assert.Equal([MailgunEventType.Accepted, MailgunEventType.Delivered, MailgunEventType.Opened, MailgunEventType.Clicked], mine.Select(e => e.Type));
            Assert.Equal(250, mine[1].DeliveryStatus!.Code);
            Assert.Equal("https://example.com/clicked", mine[3].Url);
            Assert.NotNull(mine[2].ClientInfo?.UserAgent);
        }
        await fake.WaitForWebhooksAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(8, fake.WebhookDeliveries.Count);
        Assert.All(fake.WebhookDeliveries, d => Assert.Equal(200, d.StatusCode));
    }

    [Fact]
    public async Task Programmatic_failure_and_complaint_events_verify_and_parse()
    {
        await using var listener = await WebhookListener.StartAsync();
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { WebhookSigningKey = SigningKey }); // no automatic webhooks
        using var http = new HttpClient();
        var accepted = Assert.IsType<MailgunSendResult.Accepted>(await new MailgunClient(http, fake.ClientOptions()).SendAsync(new MailgunMessage
        {
            From = "noreply@sandbox.akkamail.test", To = ["carol@example.net"], Text = "x",
            Variables = new Dictionary<string, string> { ["email-id"] = "e-7" },
        }, default));

        var perm = await fake.PostWebhookAsync(accepted.MessageId, "carol@example.net", FakeWebhookEvent.PermanentFailure, listener.Url);
        var temp = await fake.PostWebhookAsync($"<{accepted.MessageId}>", "carol@example.net", FakeWebhookEvent.TemporaryFailure, listener.Url);
        var complained = await fake.PostWebhookAsync(accepted.MessageId, "carol@example.net", FakeWebhookEvent.Complained, listener.Url);
        var custom = await fake.PostWebhookAsync(accepted.MessageId, "carol@example.net",
            new FakeWebhookEvent("failed", "permanent", "suppress-complaint", 607, "", "Not delivering to a user who marked your messages as spam"), listener.Url);
        Assert.All([perm, temp, complained, custom], d => Assert.Equal(200, d.StatusCode));

        var bodies = await listener.TakeAsync(4, TimeSpan.FromSeconds(10));
        var verifier = new MailgunWebhookVerifier(SigningKey, TimeProvider.System, TimeSpan.FromMinutes(5));
        var events = bodies.Select(b =>
        {
            var w = Assert.IsType<MailgunWebhookParseResult.Success>(MailgunWebhookParser.Parse(b)).Webhook;
            Assert.Equal(WebhookVerification.Valid, verifier.Verify(w.Signature));
            return w.Event;
        }).ToList();

        Assert.True(events[0].IsPermanentFailure);
        Assert.Equal("bounce", events[0].Reason);
        Assert.Equal(550, events[0].DeliveryStatus!.Code);
        Assert.Equal("5.1.1", events[0].DeliveryStatus!.EnhancedCode);
        Assert.Equal("error", events[0].LogLevel);
        Assert.True(events[1].IsTemporaryFailure);
        Assert.Equal(452, events[1].DeliveryStatus!.Code);
        Assert.Equal(MailgunEventType.Complained, events[2].Type);
        Assert.Equal(607, events[3].DeliveryStatus!.Code);
        Assert.Equal("suppress-complaint", events[3].Reason);
        Assert.All(events, e => Assert.Equal(("e-7", accepted.MessageId, "carol@example.net"), (e.UserVariables["email-id"], e.MessageId!, e.Recipient!)));
    }

    [Fact]
    public async Task Non_200_answers_are_retried_except_for_delivered_and_406()
    {
        await using var listener = await WebhookListener.StartAsync();
        listener.StatusToAnswer = 500;
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            WebhookSigningKey = SigningKey, WebhookUrl = listener.Url, WebhookEvents = [], WebhookMaxAttempts = 3, WebhookRetryDelay = TimeSpan.FromMilliseconds(10),
        });
        using var http = new HttpClient();
        var accepted = Assert.IsType<MailgunSendResult.Accepted>(await new MailgunClient(http, fake.ClientOptions()).SendAsync(new MailgunMessage { From = "a@sandbox.akkamail.test", To = ["b@example.com"], Text = "x" }, default));

        var opened = await fake.PostWebhookAsync(accepted.MessageId, "b@example.com", FakeWebhookEvent.Opened);
        Assert.Equal((3, 500), (opened.Attempts, opened.StatusCode!.Value));
        var delivered = await fake.PostWebhookAsync(accepted.MessageId, "b@example.com", FakeWebhookEvent.Delivered);
        Assert.Equal(1, delivered.Attempts);
        listener.StatusToAnswer = 406;
        var rejected = await fake.PostWebhookAsync(accepted.MessageId, "b@example.com", FakeWebhookEvent.Clicked);
        Assert.Equal((1, 406), (rejected.Attempts, rejected.StatusCode!.Value));
        Assert.Equal(5, (await listener.TakeAsync(5, TimeSpan.FromSeconds(5))).Count);
    }
}

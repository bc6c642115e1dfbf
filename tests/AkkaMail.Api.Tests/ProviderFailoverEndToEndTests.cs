using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using AkkaMail.SmtpFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The service with the route mailgun → smtp: the Mailgun fake (webhooks on) and the test SMTP server
/// (<see cref="FakeSmtpServer"/>, our own protocol code on loopback). Mailgun goes down for a stretch: mail keeps
/// flowing through SMTP, Mailgun's breaker closes again when it is back, and no email goes out through both.
/// </summary>
public sealed class ProviderFailoverEndToEndTests : IAsyncLifetime
{
    private const string SigningKey = "sk-failover";
    /// <summary>How long Mailgun is down (issue 21's figure): the breaker opens, probes and fails many times over.</summary>
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private MailgunFakeServer _mailgun = null!;
    private FakeSmtpServer _smtp = null!;
    private ServiceHost _host = null!;

    public async Task InitializeAsync()
    {
        var port = FreePort();
        _smtp = new FakeSmtpServer();
        _mailgun = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.akkamail.test",
            ApiKey = "key-failover",
            WebhookUrl = $"http://127.0.0.1:{port}{MailgunWebhooks.Path}",
            WebhookSigningKey = SigningKey,
            WebhookEvents = [FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered],
        });
        _host = await ServiceHost.StartAsync(extraArgs:
        [
            "--urls", $"http://127.0.0.1:{port}",
            "--AkkaMail:Route:0=mailgun",
            "--AkkaMail:Route:1=smtp",
            $"--Mailgun:BaseUrl={_mailgun.BaseUrl}",
            $"--Mailgun:Domain={_mailgun.Domain}",
            $"--Mailgun:ApiKey={_mailgun.ApiKey}",
            $"--Mailgun:WebhookSigningKey={SigningKey}",
            $"--Smtp:Host={_smtp.Host}",
            $"--Smtp:Port={_smtp.Port}",
            "--Smtp:TlsMode=none",
            "--AkkaMail:Breaker:Failures=3",
            "--AkkaMail:Breaker:Window=5s",
            "--AkkaMail:Breaker:BreakDuration=1s",
            "--AkkaMail:Retry:MinBackoff=200ms",
            "--AkkaMail:Retry:MaxBackoff=1s",
        ]);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _mailgun.DisposeAsync();
        await _smtp.DisposeAsync();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<string> PostAsync(HttpClient client, int n)
    {
        var post = await client.PostJsonAsync("/api/emails", new
        {
            from = "App <app@example.com>", to = new[] { $"user{n}@example.com" }, subject = $"Hello {n}", text = "Hi",
        });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        return (await post.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    /// <summary>The provider of the email's "sent" step, once it has one.</summary>
    private static async Task<(string Status, string Provider)> SentAsync(HttpClient client, string id)
    {
        var email = await client.WaitForEmailAsync(id, e => SentEntry(e) is not null, Within);
        return (email["status"]!.GetValue<string>(), SentEntry(email)!["provider"]!.GetValue<string>());
    }

    private static JsonNode? SentEntry(JsonNode email) =>
        email["timeline"]!.AsArray().FirstOrDefault(t => t!["type"]!.GetValue<string>() == "sent");

    private HashSet<string> AtMailgun() => _mailgun.Messages.Select(m => m.Variables["email-id"]).ToHashSet();

    private HashSet<string> AtSmtp() =>
        _smtp.Messages.Select(m => m.Parse().Headers["X-AkkaMail-Email-Id"] ?? "").ToHashSet();

    [Fact]
    public async Task Mail_flows_through_smtp_while_mailgun_is_down_and_back_through_mailgun_after_with_no_email_sent_twice()
    {
        using var client = _host.AdminClient();
        var n = 0;

        // Mailgun up: it takes the mail, and its webhooks bring it to delivered.
        var before = new List<string>();
        for (var i = 0; i < 3; i++) before.Add(await PostAsync(client, n++));
        foreach (var id in before)
        {
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", Within);
            Assert.Equal("mailgun", (await SentAsync(client, id)).Provider);
        }

        // Mailgun down: mail keeps being accepted and goes out through SMTP.
        _mailgun.StartOutage(Outage);
        var outageEnds = DateTime.UtcNow + Outage;
        var during = new List<string>();
        while (DateTime.UtcNow < outageEnds - TimeSpan.FromSeconds(1))
        {
            during.Add(await PostAsync(client, n++));
            await Task.Delay(250);
        }
        var duringOutcomes = new Dictionary<string, (string Status, string Provider)>();
        foreach (var id in during) duringOutcomes[id] = await SentAsync(client, id);
        var firstTimeline = (await (await client.GetAsync($"/api/emails/{during[0]}")).ReadJsonAsync())["timeline"]!.ToJsonString();
        Assert.True(duringOutcomes.Values.Count(o => o.Provider == "smtp") >= during.Count * 3 / 4,
            $"most mail sent during the outage went through smtp: {string.Join(", ", duringOutcomes.Values.Select(o => o.Provider))}; " +
            $"mailgun calls {_mailgun.CallCount}, refused {_mailgun.RejectedCount}; smtp connections {_smtp.Connections}; first: {firstTimeline}");
        // What SMTP took is sent (an accepted SMTP transaction; no webhooks ever come), its recipient accepted.
        var viaSmtp = duringOutcomes.First(o => o.Value.Provider == "smtp").Key;
        var smtpEmail = await client.WaitForEmailAsync(viaSmtp,
            e => e["recipients"]![0]!["status"]!.GetValue<string>() == "accepted", Within);
        Assert.Equal("sent", smtpEmail["status"]!.GetValue<string>());

        // Mailgun back: after the break a probe reaches it, the breaker closes, and mail goes through Mailgun again.
        while (_mailgun.InOutage) await Task.Delay(100);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = await PostAsync(client, n++);
            after.Add(id);
            await SentAsync(client, id);
        }
        foreach (var id in after.Skip(1))
            Assert.Equal("mailgun", (await SentAsync(client, id)).Provider);
        foreach (var id in after.Skip(1))
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", Within);

        // Every email went out exactly once, through the provider its timeline names.
        var atMailgun = AtMailgun();
        var atSmtp = AtSmtp();
        Assert.Empty(atMailgun.Intersect(atSmtp));
        foreach (var id in before.Concat(during).Concat(after))
        {
            var provider = (await SentAsync(client, id)).Provider;
            Assert.Contains(id, provider == "mailgun" ? atMailgun : atSmtp);
        }
        Assert.Equal(_smtp.Messages.Count, atSmtp.Count);
        Assert.Equal(_mailgun.Messages.Count, atMailgun.Count);
    }
}

using System.Net;
using System.Net.Sockets;
using AkkaMail.MailgunFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Mailgun has no idempotency key: with the fake accepting a fifth of the sends and then dropping the connection (the
/// answer is lost, as after a timeout), the retries look in Mailgun's events for the email's <c>v:email-id</c> first,
/// and no email reaches the fake twice.
/// </summary>
public sealed class LookBeforeRetryEndToEndTests : IAsyncLifetime
{
    private const string SigningKey = "sk-look";
    private const int Emails = 100;
    private MailgunFakeServer _mailgun = null!;
    private ServiceHost _host = null!;

    public async Task InitializeAsync()
    {
        var port = FreePort();
        _mailgun = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.akkamail.test", ApiKey = "key-look", Seed = 21,
            WebhookUrl = $"http://127.0.0.1:{port}{MailgunWebhooks.Path}", WebhookSigningKey = SigningKey,
            WebhookEvents = [FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered],
        });
        _host = await ServiceHost.StartAsync(extraArgs:
        [
            "--urls", $"http://127.0.0.1:{port}",
            "--AkkaMail:Provider=mailgun",
            $"--Mailgun:BaseUrl={_mailgun.BaseUrl}", $"--Mailgun:Domain={_mailgun.Domain}", $"--Mailgun:ApiKey={_mailgun.ApiKey}",
            $"--Mailgun:WebhookSigningKey={SigningKey}",
            "--AkkaMail:Retry:MinBackoff=200ms", "--AkkaMail:Retry:MaxBackoff=1s",
        ]);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _mailgun.DisposeAsync();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task With_a_fifth_of_the_sends_accepted_then_dropped_no_email_reaches_mailgun_twice()
    {
        _mailgun.AcceptThenDropRate = 0.2;
        using var client = _host.AdminClient();
        var ids = new List<string>();
        for (var i = 0; i < Emails; i++)
        {
            var post = await client.PostJsonAsync("/api/emails", new
            {
                from = "App <app@example.com>", to = new[] { $"user{i}@example.com" }, subject = $"Hello {i}", text = "Hi",
            });
            Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
            ids.Add((await post.ReadJsonAsync())["id"]!.GetValue<string>());
        }
        foreach (var id in ids)
        {
            var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(60));
            // What the email recorded is the message Mailgun holds.
            Assert.Equal(_mailgun.Messages.Single(m => m.Variables["email-id"] == id).MessageId, email["providerMessageId"]!.GetValue<string>());
        }
        Assert.True(_mailgun.DroppedAfterAcceptCount >= 5, $"the fault hit {_mailgun.DroppedAfterAcceptCount} sends");
        var copies = _mailgun.Messages.GroupBy(m => m.Variables["email-id"]).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(copies.Count == 0, $"sent twice: {string.Join(", ", copies)}");
        Assert.Equal(Emails, _mailgun.Messages.Count);
    }
}

using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Issue #16, item 9: Mailgun signs only timestamp + token. A body whose event-data was altered to name another
/// email (by its email id) is refused with 406 when its message id is not that email's; nothing is recorded.
/// </summary>
public sealed class WebhookAlteredBodyTests(MailgunFakeHostFixture fixture) : IClassFixture<MailgunFakeHostFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    private async Task<(string Id, FakeSentMessage Sent)> SendDeliveredAsync(HttpClient client, string to)
    {
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail(to));
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", Within);
        return (id, fixture.Fake.Messages.Single(m => m.Variables.TryGetValue("email-id", out var v) && v == id));
    }

    [Fact]
    public async Task An_event_routed_by_email_id_whose_message_id_is_another_emails_is_406_and_changes_nothing()
    {
        using var client = fixture.Host.AdminClient();
        using var anonymous = fixture.Host.Client();
        var (victimId, _) = await SendDeliveredAsync(client, "victim@example.com");
        var (_, attackerSent) = await SendDeliveredAsync(client, "attacker@example.com");
        await fixture.Fake.WaitForWebhooksAsync(Within);
        await Task.Delay(200);
        var version = (await (await client.GetAsync($"/api/emails/{victimId}")).ReadJsonAsync())["version"]!.GetValue<long>();

        // A genuine, freshly signed webhook about the attacker's own message, its user-variables altered to name the victim.
        var body = JsonNode.Parse(fixture.Fake.BuildWebhookBody(attackerSent, "victim@example.com", FakeWebhookEvent.PermanentFailure).Body)!.AsObject();
        body["event-data"]!["user-variables"] = new JsonObject { ["email-id"] = victimId };
        var r = await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(body.ToJsonString()));
        Assert.Equal(HttpStatusCode.NotAcceptable, r.StatusCode);
        Assert.Contains("message id", (await r.ReadJsonAsync())["detail"]!.GetValue<string>());

        await Task.Delay(300);
        var email = await (await client.GetAsync($"/api/emails/{victimId}")).ReadJsonAsync();
        Assert.Equal("delivered", email["status"]!.GetValue<string>());
        Assert.Equal(version, email["version"]!.GetValue<long>());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/suppressions/victim@example.com")).StatusCode);

        // The same event with the victim's own message id (or none) still applies: routing by email id is intact.
        var genuine = JsonNode.Parse(fixture.Fake.BuildWebhookBody(
            fixture.Fake.Messages.Single(m => m.Variables.TryGetValue("email-id", out var v) && v == victimId), "victim@example.com", FakeWebhookEvent.Opened).Body)!;
        r = await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(genuine.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("applied", (await r.ReadJsonAsync())["status"]!.GetValue<string>());
    }
}

using System.Net;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Issue #16, item 1: Mailgun retries a failed webhook after about 5 min, 10 min, 15 min, 1 h, 2 h, 4 h with the
/// ORIGINAL signature block. Those retries must be accepted and applied; a signature older than the tolerance is not.
/// </summary>
public sealed class WebhookRetryScheduleTests(MailgunFakeHostFixture fixture) : IClassFixture<MailgunFakeHostFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    private async Task<(string Id, FakeSentMessage Sent)> SendDeliveredAsync(HttpClient client, string to)
    {
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail(to));
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", Within);
        var sent = fixture.Fake.Messages.Single(m => m.Variables.TryGetValue("email-id", out var v) && v == id);
        return (id, sent);
    }

    private static byte[] SignedAt(FakeSentMessage sent, string recipient, FakeWebhookEvent evt, DateTimeOffset at) =>
        FakeMailgunEvents.BuildWebhook(sent, recipient, evt, MailgunFakeHostFixture.SigningKey, at).Body;

    [Fact]
    public async Task Retries_carrying_a_signature_301_seconds_or_7_hours_old_are_applied_and_one_older_than_the_tolerance_is_401()
    {
        using var client = fixture.Host.AdminClient();
        using var anonymous = fixture.Host.Client();
        var (id, sent) = await SendDeliveredAsync(client, "late@example.com");

        // First retry (5 min after a failed first try): a signature 301 s old.
        var r = await anonymous.PostWebhookAsync(SignedAt(sent, "late@example.com", FakeWebhookEvent.Opened, DateTimeOffset.UtcNow.AddSeconds(-301)));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("applied", (await r.ReadJsonAsync())["status"]!.GetValue<string>());
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "opened", Within);

        // A late retry of the schedule (~7.5 h in all): 7 h old.
        var sevenHours = SignedAt(sent, "late@example.com", FakeWebhookEvent.Clicked with { Url = "https://example.com/late" }, DateTimeOffset.UtcNow.AddHours(-7));
        r = await anonymous.PostWebhookAsync(sevenHours);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("applied", (await r.ReadJsonAsync())["status"]!.GetValue<string>());
        var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "clicked", Within);
        Assert.Equal("https://example.com/late", email["recipients"]![0]!["clickedUrls"]![0]!.GetValue<string>());

        // Its token is remembered for the whole window: the same body again is a replay.
        Assert.Equal(HttpStatusCode.NotAcceptable, (await anonymous.PostWebhookAsync(sevenHours)).StatusCode);

        // Older than the tolerance (9 h): refused, nothing applied.
        var version = (await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync())["version"]!.GetValue<long>();
        r = await anonymous.PostWebhookAsync(SignedAt(sent, "late@example.com", FakeWebhookEvent.PermanentFailure, DateTimeOffset.UtcNow.AddHours(-9).AddMinutes(-1)));
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        await Task.Delay(300);
        email = await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync();
        Assert.Equal("clicked", email["status"]!.GetValue<string>());
        Assert.Equal(version, email["version"]!.GetValue<long>());
    }
}

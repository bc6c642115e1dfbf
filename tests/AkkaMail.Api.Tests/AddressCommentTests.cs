using System.Net;
using AkkaMail.Domain;
using AkkaMail.MailgunFake;
using MimeKit;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Issue #16, item 3: an address written with an RFC 5322 comment (<c>bob@example.org (Bob)</c>) is the mailbox
/// <c>bob@example.org</c>: its fate is tracked, and its suppression found, under the bare lower-cased addr-spec.
/// </summary>
public sealed class AddressCommentTests(MailgunFakeHostFixture fixture) : IClassFixture<MailgunFakeHostFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("bob@example.org (Bob)")]
    [InlineData("(Bob) bob@example.org")]
    [InlineData("Bob@Example.ORG (Bob (the (nested)) one)")]
    [InlineData("Bob <bob@example.org> (work)")]
    [InlineData("Bob (work) <Bob@example.org>")]
    [InlineData("\"Bob (not a comment)\" <bob@example.org>")]
    [InlineData("bob@example.org")]
    [InlineData("  Bob Smith <BOB@example.org>  ")]
    [InlineData("\"bob smith\"@example.org")]
    public void Normalize_is_mimekits_parsed_address_lower_cased(string address)
    {
        Assert.True(MailboxAddress.TryParse(address, out var mailbox), address);
        Assert.Equal(mailbox.Address.ToLowerInvariant(), Addresses.Normalize(address));
    }

    [Fact]
    public async Task An_email_to_an_address_with_a_comment_is_delivered_by_the_event_for_the_bare_address_and_suppressed_under_it()
    {
        using var client = fixture.Host.AdminClient();
        var post = await client.PostJsonAsync("/api/emails", new { from = "App <app@example.com>", to = new[] { "bob@example.org (Bob)" }, subject = "Hi", text = "t" });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();

        // The fake reports accepted and delivered for bob@example.org, as Mailgun does.
        var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", Within);
        var recipient = Assert.Single(email["recipients"]!.AsArray());
        Assert.Equal("bob@example.org", recipient!["address"]!.GetValue<string>());
        Assert.Equal("delivered", recipient["status"]!.GetValue<string>());

        // A bounce for bob@example.org suppresses it; a later email to it, written with a comment, is not sent.
        var sent = fixture.Fake.Messages.Single(m => m.Variables.TryGetValue("email-id", out var v) && v == id);
        Assert.Equal(200, (await fixture.Fake.PostWebhookAsync(sent, "bob@example.org", FakeWebhookEvent.PermanentFailure)).StatusCode);
        var deadline = DateTime.UtcNow + Within;
        while ((await client.GetAsync("/api/suppressions/bob@example.org")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/suppressions/bob@example.org")).StatusCode);

        var sentBefore = fixture.Fake.Messages.Count;
        post = await client.PostJsonAsync("/api/emails", new { from = "App <app@example.com>", to = new[] { "Bob@Example.org (Bob again)" }, subject = "Hi", text = "t" });
        var again = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        email = await client.WaitForEmailAsync(again, e => e["status"]!.GetValue<string>() is "failed" or "sent" or "delivered", Within);
        Assert.Equal("failed", email["status"]!.GetValue<string>());
        recipient = Assert.Single(email["recipients"]!.AsArray());
        Assert.Equal("bob@example.org", recipient!["address"]!.GetValue<string>());
        Assert.Equal("suppressed", recipient["status"]!.GetValue<string>());
        await Task.Delay(300);
        Assert.DoesNotContain(fixture.Fake.Messages.Skip(sentBefore), m => m.Variables.TryGetValue("email-id", out var v) && v == again);
    }
}

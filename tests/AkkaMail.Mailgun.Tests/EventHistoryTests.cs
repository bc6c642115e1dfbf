using AkkaMail.Domain;
using AkkaMail.Mailgun.Provider;
using AkkaMail.MailgunFake;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkkaMail.Mailgun.Tests;

/// <summary>Every event of an email from Mailgun's events API (connector, provider history, fake): the same events, with
/// the same ids, as the webhooks; whether webhooks are posted or not; and a rate limit told apart from an outage.</summary>
public sealed class EventHistoryTests : IAsyncLifetime
{
    private readonly HttpClient _http = new();
    private MailgunFakeServer _fake = null!;

    // Webhooks go to a port where nothing listens: each is attempted once and recorded with the event it carried.
    public async Task InitializeAsync() => _fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
    {
        Domain = "mg.history.test", ApiKey = "key-history", WebhookUrl = "http://127.0.0.1:9/hook",
        WebhookEvents = [FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered],
        EventsFor = r => r.StartsWith("bounce", StringComparison.Ordinal) ? [FakeWebhookEvent.PermanentFailure] : null!,
        RateLimitRetryAfter = TimeSpan.FromSeconds(90),
    });

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _http.Dispose();
    }

    private MailgunClient Client() => new(_http, _fake.ClientOptions(TimeSpan.FromSeconds(5)));

    private MailgunEventHistory History() => new(Client(), NullLogger<MailgunEventHistory>.Instance);

    private static MailgunMessage Message(string emailId, params string[] to) => new()
    {
        From = "noreply@mg.history.test", To = to, Subject = "Hello", Text = "Hi",
        Variables = new Dictionary<string, string> { ["email-id"] = emailId },
    };

    private static readonly DateTimeOffset LongAgo = DateTimeOffset.UtcNow.AddDays(-1);

    [Fact]
    public async Task The_history_holds_the_emails_events_with_the_ids_its_webhooks_carried_and_no_other_emails()
    {
        var sent = Assert.IsType<MailgunSendResult.Accepted>(await Client().SendAsync(Message("e-1", "ann@example.com", "bounce@example.com")));
        await Client().SendAsync(Message("e-2", "bob@example.com"));
        await _fake.WaitForWebhooksAsync(TimeSpan.FromSeconds(10));

        var found = Assert.IsType<ProviderHistory.Found>(await History().FindEventsAsync("e-1", LongAgo, CancellationToken.None));
        var webhooks = _fake.WebhookDeliveries.Where(d => d.MessageId == sent.MessageId).ToList();
        Assert.Equal(3, webhooks.Count); // ann: accepted, delivered; bounce: the failure (its acceptance is in the log only)
        Assert.Equal(4, found.Events.Count); // and an accepted for each recipient
        Assert.Subset(found.Events.Select(e => e.EventId).ToHashSet(), webhooks.Select(w => w.EventId).ToHashSet());
        Assert.All(found.Events, e => Assert.Equal(MailgunProvider.ProviderName, e.Provider));
        Assert.All(found.Events, e => Assert.Equal(sent.MessageId, e.ProviderMessageId));
        Assert.Contains(found.Events, e => e is { Kind: ProviderEventKind.Delivered, Recipient: "ann@example.com" });
        Assert.Contains(found.Events, e => e is { Kind: ProviderEventKind.PermanentFailure, Recipient: "bounce@example.com" });
        Assert.Equal(2, found.Events.Count(e => e.Kind == ProviderEventKind.Accepted));
        // Oldest first: a recipient's acceptance before what became of it.
        var ann = found.Events.Where(e => e.Recipient == "ann@example.com").Select(e => e.Kind).ToList();
        Assert.Equal(new[] { ProviderEventKind.Accepted, ProviderEventKind.Delivered }, ann);

        Assert.Empty(Assert.IsType<ProviderHistory.Found>(await History().FindEventsAsync("e-3", LongAgo, CancellationToken.None)).Events);
    }

    [Fact]
    public async Task With_webhooks_disabled_the_events_are_in_the_log_all_the_same()
    {
        await using var quiet = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { Domain = "mg.quiet.test", ApiKey = "key-quiet", WebhookUrl = null });
        var client = new MailgunClient(_http, quiet.ClientOptions(TimeSpan.FromSeconds(5)));
        await client.SendAsync(Message("e-q", "ann@example.com"));
        await quiet.WaitForWebhooksAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(quiet.WebhookDeliveries);
        var found = Assert.IsType<MailgunEventSearch.Found>(await client.FindEventsAsync("email-id", "e-q", LongAgo));
        Assert.Equal(new[] { "accepted", "delivered" }, found.Events.Select(e => e.EventType));
        Assert.Equal(0, found.Unreadable);
    }

    [Fact]
    public async Task A_429_or_420_is_a_rate_limit_with_the_wait_mailgun_asks_and_a_503_an_outage()
    {
        await Client().SendAsync(Message("e-1", "ann@example.com"));
        _fake.EnqueueEventsFailures(429, 420, 503);
        foreach (var _ in new[] { 429, 420 })
        {
            var limited = Assert.IsType<ProviderHistory.RateLimited>(await History().FindEventsAsync("e-1", LongAgo, CancellationToken.None));
            Assert.InRange(limited.Wait, TimeSpan.FromSeconds(85), TimeSpan.FromSeconds(91));
        }
        Assert.Contains("503", Assert.IsType<ProviderHistory.Unavailable>(await History().FindEventsAsync("e-1", LongAgo, CancellationToken.None)).Reason);
        Assert.IsType<ProviderHistory.Found>(await History().FindEventsAsync("e-1", LongAgo, CancellationToken.None));
    }

    [Fact]
    public void Only_next_pages_of_the_domains_events_are_followed()
    {
        var events = new Uri("https://api.mailgun.net/v3/mg.example.com/events");
        const string item = """{"id":"ev-1","event":"delivered","timestamp":1764000000.5,"recipient":"a@example.com","message":{"headers":{"message-id":"m1@mg"}}}""";
        string Page(string next) => $$$"""{"items":[{{{item}}},{"event":"no id"}],"paging":{"next":"{{{next}}}"}}""";

        var (found, unreadable, next, error) = MailgunClient.ParseEventsPage(Page("https://api.mailgun.net/v3/mg.example.com/events/WzMsIn0="), events);
        Assert.Null(error);
        Assert.Equal("ev-1", Assert.Single(found!).Id);
        Assert.Equal(1, unreadable);
        Assert.Equal("https://api.mailgun.net/v3/mg.example.com/events/WzMsIn0=", next!.ToString()); // Mailgun's own paging

        Assert.NotNull(MailgunClient.ParseEventsPage(Page("https://api.mailgun.net/v3/mg.example.com/events?page=2"), events).Next);
        Assert.Null(MailgunClient.ParseEventsPage(Page("https://api.mailgun.net/v3/other.example.com/events/WzMsIn0="), events).Next);
        Assert.Null(MailgunClient.ParseEventsPage(Page("https://api.mailgun.net/v3/mg.example.com/eventsx"), events).Next);
        Assert.Null(MailgunClient.ParseEventsPage(Page("https://evil.example/v3/mg.example.com/events?page=2"), events).Next);
        Assert.NotNull(MailgunClient.ParseEventsPage("{\"nothing\":1}", events).Error);
    }
}

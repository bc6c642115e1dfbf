using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AkkaMail.Domain;
using AkkaMail.Mailgun.Provider;
using AkkaMail.MailgunFake;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkkaMail.Mailgun.Tests;

/// <summary>The events API (connector and fake) and the provider's look before a retry: a message Mailgun accepted
/// but whose answer was lost is found by its <c>v:email-id</c> and never sent again.</summary>
public sealed class LookBeforeRetryTests : IAsyncLifetime
{
    private MailgunFakeServer _fake = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
    {
        Domain = "mg.akkamail.test", ApiKey = "key-secret", Seed = 7,
        // Only the acceptances in the events log: nothing else happens to these messages.
        WebhookEvents = [],
    });

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _http.Dispose();
    }

    private MailgunClient Client() => new(_http, _fake.ClientOptions(TimeSpan.FromSeconds(5)));

    private static MailgunMessage Message(string emailId, params string[] to) => new()
    {
        From = "noreply@mg.akkamail.test", To = to, Subject = "Hello", Text = "Hi",
        Variables = new Dictionary<string, string> { ["email-id"] = emailId },
    };

    private static readonly DateTimeOffset LongAgo = DateTimeOffset.UtcNow.AddDays(-1);

    [Fact]
    public async Task An_accepted_event_is_found_by_its_user_variable_and_nothing_is_found_for_another_value_or_window()
    {
        var client = Client();
        var sent = Assert.IsType<MailgunSendResult.Accepted>(await client.SendAsync(Message("e-1", "ann@example.com")));
        await client.SendAsync(Message("e-2", "bob@example.com"));

        var found = Assert.IsType<MailgunEventLookup.Found>(await client.FindEventAsync("accepted", "email-id", "e-1", LongAgo));
        Assert.Equal(sent.MessageId, found.MessageId);
        Assert.NotEmpty(found.EventId);
        Assert.IsType<MailgunEventLookup.NotFound>(await client.FindEventAsync("accepted", "email-id", "e-3", LongAgo));
        Assert.IsType<MailgunEventLookup.NotFound>(await client.FindEventAsync("delivered", "email-id", "e-1", LongAgo));
        Assert.IsType<MailgunEventLookup.NotFound>(await client.FindEventAsync("accepted", "email-id", "e-1", DateTimeOffset.UtcNow.AddMinutes(5)));
        // Older than the retention: gone.
        _fake.EventRetention = TimeSpan.Zero;
        Assert.IsType<MailgunEventLookup.NotFound>(await client.FindEventAsync("accepted", "email-id", "e-1", LongAgo));
    }

    [Fact]
    public async Task A_lookup_the_api_refuses_is_a_failure_not_a_not_found()
    {
        var wrongKey = new MailgunClient(_http, _fake.ClientOptions() is var o ? new MailgunOptions
            { BaseUrl = o.BaseUrl, Domain = o.Domain, ApiKey = "wrong" } : null!);
        Assert.Equal(401, Assert.IsType<MailgunEventLookup.Failed>(await wrongKey.FindEventAsync("accepted", "email-id", "e-1", LongAgo)).StatusCode);
        _fake.StartOutage(TimeSpan.FromMinutes(1));
        Assert.Equal(503, Assert.IsType<MailgunEventLookup.Failed>(await Client().FindEventAsync("accepted", "email-id", "e-1", LongAgo)).StatusCode);
    }

    [Fact]
    public async Task The_fake_pages_in_order_with_limits_and_filters_by_message_id()
    {
        var client = Client();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add(Assert.IsType<MailgunSendResult.Accepted>(await client.SendAsync(Message("p", $"r{i}@example.com"))).MessageId);
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String("api:key-secret"u8.ToArray()));
        var seen = new List<string>();
        var url = $"{_fake.BaseUrl}/v3/{_fake.Domain}/events?event=accepted&ascending=yes&limit=2";
        for (var pages = 0; pages < 10; pages++)
        {
            var page = (await _http.GetFromJsonAsync<JsonObject>(url))!;
            var items = page["items"]!.AsArray();
            if (items.Count == 0) break;
            Assert.True(items.Count <= 2);
            seen.AddRange(items.Select(i => (string)i!["message"]!["headers"]!["message-id"]!));
            url = (string)page["paging"]!["next"]!;
        }
        Assert.Equal(ids, seen);
        var one = (await _http.GetFromJsonAsync<JsonObject>($"{_fake.BaseUrl}/v3/{_fake.Domain}/events?message-id={Uri.EscapeDataString(ids[3])}"))!;
        Assert.Equal("r3@example.com", (string)Assert.Single(one["items"]!.AsArray())!["recipient"]!);
        var newestFirst = (await _http.GetFromJsonAsync<JsonObject>($"{_fake.BaseUrl}/v3/{_fake.Domain}/events?limit=1"))!;
        Assert.Equal(ids[^1], (string)newestFirst["items"]![0]!["message"]!["headers"]!["message-id"]!);
    }

    private static OutgoingEmail Email(string id, int attempt) => new(id, attempt,
        new EmailContent("noreply@mg.akkamail.test", ["ann@example.com"], [], [], null, "Hello", "Hi", null, [],
            new Dictionary<string, string>(), new Dictionary<string, string>(), []));

    [Fact]
    public async Task A_retry_of_an_attempt_mailgun_accepted_but_whose_answer_was_lost_is_sent_once()
    {
        var provider = new MailgunProvider(Client(), NullLogger<MailgunProvider>.Instance);
        _fake.AcceptThenDropRate = 1;
        var first = Assert.IsType<SendOutcome.Transient>(await provider.SendAsync(Email("lost-1", 1), default));
        Assert.Contains("mailgun", first.Reason);
        Assert.Equal(1, _fake.DroppedAfterAcceptCount);
        _fake.AcceptThenDropRate = 0;

        var retry = Assert.IsType<SendOutcome.Sent>(await provider.SendAsync(Email("lost-1", 2), default));
        Assert.Equal(("mailgun", Assert.Single(_fake.Messages).MessageId), (retry.Provider, retry.ProviderMessageId));
        Assert.Equal(1, _fake.CallCount);

        // A retry of an attempt Mailgun never accepted is sent.
        _fake.EnqueueFailures(503);
        Assert.IsType<SendOutcome.Transient>(await provider.SendAsync(Email("refused-1", 1), default));
        Assert.IsType<SendOutcome.Sent>(await provider.SendAsync(Email("refused-1", 2), default));
        Assert.Equal(2, _fake.Messages.Count);
        // The first attempt never looks.
        var searches = _fake.EventSearchCount;
        await provider.SendAsync(Email("new-1", 1), default);
        Assert.Equal(searches, _fake.EventSearchCount);
    }
}

using System.Net;
using System.Text.Json;
using AkkaMail.Api.Realtime;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>GET /api/emails/stream: server-sent events with the same messages and rules as the hub.</summary>
public sealed class RealtimeSseTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(hoconOverrides: "akkamail.sandbox.delivery-delay=300ms");
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Stream_of_ones_emails_carries_each_change_until_delivered()
    {
        var key = await _host.CreateUserKeyAsync("alice");
        using var client = _host.Client(key);
        using var response = await client.GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("retry: 3000", await reader.ReadLineAsync());

        var id = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();
        var events = await ReadEventsUntilAsync(reader, m => m.Status == "delivered", TimeSpan.FromSeconds(5));
        Assert.All(events, e => Assert.Equal(id, e.Message.EmailId));
        Assert.Equal("queued", events[0].Message.Status);
        Assert.Contains(events, e => e.Message.EventType == "sent");
        Assert.All(events, e => Assert.Equal($"{id}:{e.Message.Version}", e.Id));
    }

    [Fact]
    public async Task Stream_of_one_email_filters_by_id()
    {
        var key = await _host.CreateUserKeyAsync("alice");
        using var client = _host.Client(key);
        var first = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();
        using var response = await client.GetAsync($"/api/emails/stream?id={first}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var second = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail("other@example.com"))).ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(second, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
        await client.WaitForEmailAsync(first, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
        await _host.App.Services.GetRequiredService<IEmailGateway>().ApplyProviderEventAsync(first,
            new ProviderEvent("open-1", ProviderEventKind.Opened, "alice@example.com", DateTimeOffset.UtcNow));

        var events = await ReadEventsUntilAsync(reader, m => m.EventType == "opened", TimeSpan.FromSeconds(5));
        Assert.All(events, e => Assert.Equal(first, e.Message.EmailId));
        Assert.Equal("opened", events[^1].Message.Status);
    }

    [Fact]
    public async Task Stream_refuses_other_users_emails_and_anonymous_callers()
    {
        var alice = _host.Client(await _host.CreateUserKeyAsync("alice"));
        var mallory = _host.Client(await _host.CreateUserKeyAsync("mallory"));
        var id = (await (await alice.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();

        var refused = await mallory.GetAsync($"/api/emails/stream?id={id}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType!.MediaType);
        var anonymous = await _host.Client().GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        // "stream" is not read as an email id: GET /api/emails/{id} still answers as before.
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/emails/{id}")).StatusCode);
    }

    [Fact]
    public async Task Stream_sends_a_heartbeat_comment_when_quiet()
    {
        var previous = EmailStatusStream.HeartbeatInterval;
        EmailStatusStream.HeartbeatInterval = TimeSpan.FromMilliseconds(200); // other streams only see more comments
        try
        {
            using var client = _host.Client(await _host.CreateUserKeyAsync("alice"));
            using var response = await client.GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            while (await reader.ReadLineAsync(cts.Token) is { } line)
                if (line == ": heartbeat") return;
            Assert.Fail("the stream ended without a heartbeat");
        }
        finally
        {
            EmailStatusStream.HeartbeatInterval = previous;
        }
    }

    private sealed record SseEvent(string? Id, string Event, EmailStatusMessage Message);

    private static async Task<List<SseEvent>> ReadEventsUntilAsync(StreamReader reader, Func<EmailStatusMessage, bool> until, TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        var events = new List<SseEvent>();
        string? id = null, name = null, data = null;
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.StartsWith("id: ")) id = line[4..];
            else if (line.StartsWith("event: ")) name = line[7..];
            else if (line.StartsWith("data: ")) data = line[6..];
            else if (line.Length == 0 && data is not null)
            {
                var m = JsonSerializer.Deserialize<EmailStatusMessage>(data, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
                Assert.Equal(EmailStatusMessage.MethodName, name);
                events.Add(new SseEvent(id, name!, m));
                if (until(m)) return events;
                id = name = data = null;
            }
        }
        throw new EndOfStreamException("the stream ended");
    }
}

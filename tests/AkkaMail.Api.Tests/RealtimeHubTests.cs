using System.Net;
using System.Threading.Channels;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>The SignalR hub with the .NET client, against the real service (sandbox provider, 300 ms to delivery).</summary>
public sealed class RealtimeHubTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan PushBudget = TimeSpan.FromSeconds(1);
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(hoconOverrides: "akkamail.sandbox.delivery-delay=300ms");
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Subscriber_receives_queued_sent_delivered_opened_in_order_each_within_a_second()
    {
        var aliceKey = await _host.CreateUserKeyAsync("alice");
        var all = Channel.CreateUnbounded<Received>();
        var one = Channel.CreateUnbounded<Received>();
        await using var watchAll = await _host.ConnectHubAsync(aliceKey, all);
        await using var watchOne = await _host.ConnectHubAsync(aliceKey, one);
        await watchAll.InvokeAsync("SubscribeAll");
        using var client = _host.Client(aliceKey);

        // One email first, untimed: the first push of a process pays for JIT compilation, not for the design.
        var warmUp = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();
        await all.ReadUntilAsync(warmUp, m => m.Status == "delivered", TimeSpan.FromSeconds(10));

        var posted = DateTimeOffset.UtcNow;
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail("bob@example.com"));
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        var snapshot = await watchOne.InvokeAsync<AkkaMail.Api.Realtime.EmailStatusMessage>("SubscribeEmail", id);
        Assert.Equal(id, snapshot.EmailId);

        var untilDelivered = await all.ReadUntilAsync(id, m => m.Status == "delivered", TimeSpan.FromSeconds(5));

        // "opened" comes the way a webhook does: through the gateway.
        var gateway = _host.App.Services.GetRequiredService<IEmailGateway>();
        var openedAt = DateTimeOffset.UtcNow;
        await gateway.ApplyProviderEventAsync(id, new ProviderEvent("open-1", ProviderEventKind.Opened, "bob@example.com", openedAt));
        var untilOpened = await all.ReadUntilAsync(id, m => m.Status == "opened", TimeSpan.FromSeconds(2));
        var messages = untilDelivered.Concat(untilOpened).ToList();

        foreach (var r in messages)
            output.WriteLine($"{r.Message.EventType,-12} -> {r.Message.Status,-10} v{r.Message.Version}  +{(r.ReceivedAt - posted).TotalMilliseconds,6:F0} ms since POST, {r.Latency.TotalMilliseconds,5:F0} ms after persisted");

        Assert.Equal(new[] { "queued", "sending", "sent", "delivered", "opened" }, messages.StatusPath());
        Assert.Equal(messages.Select(m => m.Message.Version).Order(), messages.Select(m => m.Message.Version));
        Assert.All(messages, r => Assert.True(r.Latency < PushBudget, $"{r.Message.EventType} took {r.Latency.TotalMilliseconds:F0} ms"));
        Assert.True(untilOpened[^1].ReceivedAt - openedAt < PushBudget, "opened arrived more than 1 s after its webhook");
        Assert.Contains(messages, m => m.Message is { EventType: "delivered", Recipient: "bob@example.com" });

        // The connection that watches only this email saw the same changes after it subscribed.
        var single = await one.ReadUntilAsync(id, m => m.Status == "opened", TimeSpan.FromSeconds(2));
        Assert.Equal(new[] { "delivered", "opened" }, single.StatusPath().TakeLast(2));
        Assert.Contains(single, m => m.Message.EventType == "opened");
    }

    [Fact]
    public async Task Another_users_subscription_is_refused_and_hears_nothing_of_it()
    {
        var aliceKey = await _host.CreateUserKeyAsync("alice");
        var malloryKey = await _host.CreateUserKeyAsync("mallory");
        using var alice = _host.Client(aliceKey);
        var id = (await (await alice.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();

        var malloryInbox = Channel.CreateUnbounded<Received>();
        await using var mallory = await _host.ConnectHubAsync(malloryKey, malloryInbox);
        var refused = await Assert.ThrowsAsync<HubException>(() => mallory.InvokeAsync<object>("SubscribeEmail", id));
        Assert.Contains("No email", refused.Message);
        await Assert.ThrowsAsync<HubException>(() => mallory.InvokeAsync<object>("SubscribeEmail", "no-such-email"));
        await mallory.InvokeAsync("SubscribeAll");

        // An admin may watch anyone's email.
        var adminInbox = Channel.CreateUnbounded<Received>();
        await using var admin = await _host.ConnectHubAsync(_host.AdminKey, adminInbox);
        await admin.InvokeAsync<object>("SubscribeEmail", id);

        await alice.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
        await Task.Delay(300);
        Assert.False(malloryInbox.Reader.TryRead(out var leaked), $"mallory heard of alice's email: {leaked}");
    }

    [Fact]
    public async Task A_bad_key_or_none_cannot_connect()
    {
        var inbox = Channel.CreateUnbounded<Received>();
        var bad = await Assert.ThrowsAsync<HttpRequestException>(() => _host.ConnectHubAsync("am_not-a-key", inbox));
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        var none = new HubConnectionBuilder().WithUrl(new Uri(_host.BaseAddress, "/hubs/emails")).Build();
        var anonymous = await Assert.ThrowsAsync<HttpRequestException>(() => none.StartAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        // And the WebSocket endpoint itself refuses a bad access_token in the query string (what browsers send).
        using var http = _host.Client();
        var r = await http.PostAsync("/hubs/emails/negotiate?negotiateVersion=1&access_token=nope", null);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
    }
}

using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using AkkaMail.Api.Realtime;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>
/// #16, item 2: revoking an API key ends the real-time connections it opened (hub and server-sent events) within
/// <see cref="Budget"/>, and they hear nothing after; the user's other keys and their connections go on.
/// </summary>
public sealed class RealtimeRevocationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(hoconOverrides: "akkamail.sandbox.delivery-delay=100ms");
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Revoking_a_key_closes_its_hub_connection_and_event_stream_within_two_seconds()
    {
        using var admin = _host.AdminClient();
        var created = await (await admin.PostJsonAsync("/api/users", new { name = "alice" })).ReadJsonAsync();
        var userId = created["id"]!.GetValue<string>();
        var oldKey = created["apiKey"]!.GetValue<string>();
        var oldKeyId = created["keyId"]!.GetValue<string>();
        using var oldClient = _host.Client(oldKey);
        var second = await (await oldClient.PostAsync($"/api/users/{userId}/keys", null)).ReadJsonAsync();
        using var newClient = _host.Client(second["apiKey"]!.GetValue<string>());

        // Opened with the old key: a hub connection watching all of alice's emails, and an event stream.
        var hubInbox = Channel.CreateUnbounded<Received>();
        await using var hub = await _host.ConnectHubAsync(oldKey, hubInbox);
        var hubClosed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += e => { hubClosed.TrySetResult(e); return Task.CompletedTask; };
        await hub.InvokeAsync("SubscribeAll");
        using var sse = await oldClient.GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, sse.StatusCode);
        var sseLines = Channel.CreateUnbounded<string?>();
        var sseReader = Task.Run(async () =>
        {
            using var reader = new StreamReader(await sse.Content.ReadAsStreamAsync());
            try
            {
                while (await reader.ReadLineAsync() is { } line) sseLines.Writer.TryWrite(line);
                sseLines.Writer.TryWrite(null); // the end of the stream
            }
            catch (Exception e) when (e is IOException or HttpRequestException or ObjectDisposedException)
            {
                sseLines.Writer.TryWrite(null);
            }
        });
        // And one opened with the user's other key, which must live on.
        var otherInbox = Channel.CreateUnbounded<Received>();
        await using var otherHub = await _host.ConnectHubAsync(second["apiKey"]!.GetValue<string>(), otherInbox);
        await otherHub.InvokeAsync("SubscribeAll");

        // Both work before the revocation.
        var before = (await (await newClient.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();
        await hubInbox.ReadUntilAsync(before, m => m.Status == "delivered", TimeSpan.FromSeconds(10));
        await otherInbox.ReadUntilAsync(before, m => m.Status == "delivered", TimeSpan.FromSeconds(10));
        await ReadSseUntilAsync(sseLines, $"\"emailId\":\"{before}\",\"status\":\"delivered\"", TimeSpan.FromSeconds(10));

        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.NoContent, (await newClient.DeleteAsync($"/api/users/{userId}/keys/{oldKeyId}")).StatusCode);

        // Both connections of the revoked key end within the budget.
        var closed = await Task.WhenAny(hubClosed.Task, Task.Delay(Budget));
        Assert.True(closed == hubClosed.Task, $"the hub connection of the revoked key was still open {Budget.TotalSeconds} s after the revocation");
        output.WriteLine($"hub connection closed {clock.ElapsedMilliseconds} ms after the revocation was asked");
        var lateLines = await ReadSseToEndAsync(sseLines, Budget - clock.Elapsed);
        output.WriteLine($"event stream ended {clock.ElapsedMilliseconds} ms after the revocation was asked");
        Assert.True(clock.Elapsed < Budget, $"closing took {clock.ElapsedMilliseconds} ms");
        Assert.Equal(HubConnectionState.Disconnected, hub.State);
        Assert.Equal(1, _host.App.Services.GetRequiredService<KeyConnections>().Count); // the other key's hub connection

        // An email sent after it, with the other key: the old connections hear nothing of it, the other one does.
        var after = (await (await newClient.PostJsonAsync("/api/emails", Json.ValidEmail("bob@example.com"))).ReadJsonAsync())["id"]!.GetValue<string>();
        await otherInbox.ReadUntilAsync(after, m => m.Status == "delivered", TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        while (hubInbox.Reader.TryRead(out var r)) Assert.NotEqual(after, r.Message.EmailId);
        Assert.DoesNotContain(lateLines, l => l.Contains(after));
        await sseReader;

        // And the revoked key opens nothing new.
        Assert.Equal(HttpStatusCode.Unauthorized, (await oldClient.GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => _host.ConnectHubAsync(oldKey, Channel.CreateUnbounded<Received>()));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    private static async Task ReadSseUntilAsync(Channel<string?> lines, string fragment, TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        while (await lines.Reader.ReadAsync(cts.Token) is { } line)
            if (line.Contains(fragment)) return;
        throw new EndOfStreamException($"the stream ended before '{fragment}'");
    }

    /// <summary>The lines the stream still sent until its end; fails if it does not end within <paramref name="within"/>.</summary>
    private static async Task<List<string>> ReadSseToEndAsync(Channel<string?> lines, TimeSpan within)
    {
        var got = new List<string>();
        using var cts = new CancellationTokenSource(within > TimeSpan.Zero ? within : TimeSpan.FromMilliseconds(1));
        try
        {
            while (await lines.Reader.ReadAsync(cts.Token) is { } line) got.Add(line);
            return got;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the event stream of the revoked key was still open after the budget; it sent: {string.Join(" | ", got)}");
        }
    }
}

/// <summary>The registry of live connections by key, alone.</summary>
public sealed class KeyConnectionsTests
{
    [Fact]
    public void Revoking_aborts_that_keys_connections_only_and_any_that_registers_later()
    {
        var keys = new KeyConnections(TimeProvider.System);
        var aborted = new List<string>();
        using var a1 = keys.Register("usr_a", "key_1", () => aborted.Add("a1"));
        using var a2 = keys.Register("usr_a", "key_1", () => aborted.Add("a2"));
        using var a3 = keys.Register("usr_a", "key_2", () => aborted.Add("a3"));
        using var b1 = keys.Register("usr_b", "key_1", () => aborted.Add("b1")); // another user's (hypothetical) same id
        var gone = keys.Register("usr_a", "key_1", () => aborted.Add("gone"));
        gone.Dispose(); // closed on its own before

        Assert.Equal(2, keys.Revoke("usr_a", "key_1"));
        Assert.Equal(new[] { "a1", "a2" }, aborted.Order());
        Assert.Equal(2, keys.Count);

        // Authenticated just before the revocation, registered just after: ended at once.
        using var late = keys.Register("usr_a", "key_1", () => aborted.Add("late"));
        Assert.Contains("late", aborted);
        Assert.Equal(0, keys.Revoke("usr_a", "key_1"));
        Assert.Equal(3, aborted.Count);
    }
}

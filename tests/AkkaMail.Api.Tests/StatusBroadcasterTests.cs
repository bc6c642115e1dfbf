using System.Collections.Concurrent;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Api.Realtime;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Microsoft.AspNetCore.SignalR;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>The broadcaster keeps each email's changes in order even when a push is slow, and feeds both the hub and
/// the server-sent-event streams.</summary>
public sealed class StatusBroadcasterTests : IAsyncDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("broadcaster-" + Guid.NewGuid().ToString("N")[..8]);

    public async ValueTask DisposeAsync() => await _system.Terminate();

    /// <summary>A hub whose first send hangs until released; every send is recorded in call order.</summary>
    private sealed class GatedHub : IHubContext<EmailHub>, IHubClients, IClientProxy
    {
        public readonly TaskCompletionSource FirstSendReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly ConcurrentQueue<EmailStatusMessage> Sent = new();

        IHubClients IHubContext<EmailHub>.Clients => this;
        IGroupManager IHubContext<EmailHub>.Groups => throw new NotSupportedException();

        public Task SendCoreAsync(string method, object?[] args, CancellationToken cancellationToken = default)
        {
            Sent.Enqueue((EmailStatusMessage)args[0]!);
            return Sent.Count == 1 ? FirstSendReleased.Task : Task.CompletedTask;
        }

        IClientProxy IHubClients<IClientProxy>.Groups(IReadOnlyList<string> groupNames) => this;
        public IClientProxy All => this;
        public IClientProxy AllExcept(IReadOnlyList<string> excludedConnectionIds) => this;
        public IClientProxy Client(string connectionId) => this;
        IClientProxy IHubClients<IClientProxy>.Clients(IReadOnlyList<string> connectionIds) => this;
        public IClientProxy Group(string groupName) => this;
        public IClientProxy GroupExcept(string groupName, IReadOnlyList<string> excludedConnectionIds) => this;
        public IClientProxy User(string userId) => this;
        public IClientProxy Users(IReadOnlyList<string> userIds) => this;
    }

    private static PipelineMessages.EmailChanged Change(long version)
    {
        var evt = new EmailEvents.EmailAccepted("e-1", "u-1",
            new EmailContent("a@example.com", new[] { "b@example.com" }, [], [], null, "subject", "text", null, [],
                new Dictionary<string, string>(), new Dictionary<string, string>(), []),
            DateTimeOffset.UtcNow);
        return new PipelineMessages.EmailChanged("e-1", "u-1", "queued", evt, version);
    }

    [Fact]
    public async Task A_slow_push_holds_the_next_changes_back_until_it_is_done_then_they_follow_in_order()
    {
        var hub = new GatedHub();
        var broadcaster = _system.ActorOf(Props.Create(() => new StatusBroadcasterActor(hub, new EmailStatusFeed())));
        broadcaster.Tell(Change(1));
        broadcaster.Tell(Change(2));
        broadcaster.Tell(Change(3));

        await Task.Delay(300);
        Assert.Equal(new long[] { 1 }, hub.Sent.Select(m => m.Version));

        hub.FirstSendReleased.SetResult();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (hub.Sent.Count < 3 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(new long[] { 1, 2, 3 }, hub.Sent.Select(m => m.Version));
    }

    [Fact]
    public async Task Every_change_goes_to_SignalR_and_to_the_server_sent_event_streams_of_its_owner()
    {
        var hub = new GatedHub();
        hub.FirstSendReleased.SetResult();
        var feed = new EmailStatusFeed();
        var broadcaster = _system.ActorOf(Props.Create(() => new StatusBroadcasterActor(hub, feed)));

        using var stream = feed.Subscribe("u-1", null);
        using var stranger = feed.Subscribe("u-2", null);
        broadcaster.Tell(Change(1));
        broadcaster.Tell(Change(2));
        var first = await stream.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        var second = await stream.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(new long[] { 1, 2 }, new[] { first.Version, second.Version });
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (hub.Sent.Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(new long[] { 1, 2 }, hub.Sent.Select(m => m.Version));
        Assert.False(stranger.Reader.TryRead(out _));
    }
}

using System.Threading.Channels;
using AkkaMail.Api.Realtime;
using AkkaMail.Users;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Api.Tests;

/// <summary>A message as received by a test client, with the moment it arrived.</summary>
public sealed record Received(EmailStatusMessage Message, DateTimeOffset ReceivedAt)
{
    public TimeSpan Latency => ReceivedAt - Message.At;
}

public static class RealtimeTestSupport
{
    public static async Task<string> CreateUserKeyAsync(this ServiceHost host, string name, bool isAdmin = false) =>
        (await host.App.Services.GetRequiredService<IUserStore>().CreateUserAsync(name, isAdmin, defaultFrom: null)).ApiKey;

    /// <summary>A started hub connection whose emailStatus messages land in <paramref name="inbox"/>.</summary>
    public static async Task<HubConnection> ConnectHubAsync(this ServiceHost host, string key, Channel<Received> inbox)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(host.BaseAddress, EmailHub.Path), o => o.AccessTokenProvider = () => Task.FromResult<string?>(key))
            .Build();
        connection.On<EmailStatusMessage>(EmailStatusMessage.MethodName, m => inbox.Writer.TryWrite(new Received(m, DateTimeOffset.UtcNow)));
        await connection.StartAsync();
        return connection;
    }

    /// <summary>Reads messages until one for <paramref name="emailId"/> satisfies <paramref name="until"/>; returns them all.</summary>
    public static async Task<List<Received>> ReadUntilAsync(this Channel<Received> inbox, string emailId,
        Func<EmailStatusMessage, bool> until, TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        var got = new List<Received>();
        try
        {
            while (true)
            {
                var r = await inbox.Reader.ReadAsync(cts.Token);
                if (r.Message.EmailId != emailId) continue;
                got.Add(r);
                if (until(r.Message)) return got;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no expected message for {emailId} within {within}; got: " +
                string.Join(", ", got.Select(g => $"{g.Message.EventType}->{g.Message.Status}")));
        }
    }

    /// <summary>The statuses in the order received, consecutive repeats folded.</summary>
    public static List<string> StatusPath(this IEnumerable<Received> messages)
    {
        var path = new List<string>();
        foreach (var m in messages)
            if (path.Count == 0 || path[^1] != m.Message.Status) path.Add(m.Message.Status);
        return path;
    }
}

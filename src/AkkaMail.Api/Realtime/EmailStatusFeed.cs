using System.Collections.Concurrent;
using System.Threading.Channels;

namespace AkkaMail.Api.Realtime;

/// <summary>
/// In-process fan-out of status messages to server-sent-event streams, fed by the <see cref="StatusBroadcasterActor"/>.
/// Each subscriber has a bounded buffer; one that falls that far behind is ended (its stream closes, the client
/// reconnects and catches up through the REST API) rather than slowing everyone else down.
/// </summary>
public sealed class EmailStatusFeed
{
    public const int BufferSize = 1024;

    private readonly ConcurrentDictionary<Subscription, byte> _subscribers = new();

    /// <summary>Receives the messages of <paramref name="userId"/>'s emails, or of one email when <paramref name="emailId"/> is set.</summary>
    public Subscription Subscribe(string userId, string? emailId)
    {
        var s = new Subscription(this, userId, emailId);
        _subscribers.TryAdd(s, 0);
        return s;
    }

    public void Publish(string userId, EmailStatusMessage message)
    {
        // Enumerating the dictionary itself: its Keys property takes every lock and copies them, on each change.
        foreach (var (s, _) in _subscribers)
        {
            if (s.EmailId is not null ? s.EmailId != message.EmailId : s.UserId != userId) continue;
            if (!s.Writer.TryWrite(message)) s.Writer.TryComplete(new ChannelClosedException("the client fell too far behind"));
        }
    }

    public sealed class Subscription : IDisposable
    {
        private readonly EmailStatusFeed _feed;
        private readonly Channel<EmailStatusMessage> _channel =
            Channel.CreateBounded<EmailStatusMessage>(new BoundedChannelOptions(BufferSize)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we end the stream instead of dropping silently
            });

        internal Subscription(EmailStatusFeed feed, string userId, string? emailId)
        {
            _feed = feed;
            UserId = userId;
            EmailId = emailId;
        }

        public string UserId { get; }
        public string? EmailId { get; }
        public ChannelReader<EmailStatusMessage> Reader => _channel.Reader;
        internal ChannelWriter<EmailStatusMessage> Writer => _channel.Writer;

        public void Dispose()
        {
            _feed._subscribers.TryRemove(this, out _);
            _channel.Writer.TryComplete();
        }
    }
}

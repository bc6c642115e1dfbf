using RabbitMQ.Client;

namespace AkkaMail.Amqp;

public sealed record Envelope(ulong DeliveryTag, bool Redelivered, string Exchange, string RoutingKey, string ConsumerTag);

/// One delivery, detached from the client's buffers (body and properties are copies),
/// with Ack/Nack callable from any thread.
public sealed class CommittableIncomingMessage
{
    private readonly IChannel _channel;
    private readonly DeliveryTracker _tracker;

    internal CommittableIncomingMessage(ReadOnlyMemory<byte> body, IReadOnlyBasicProperties properties,
        Envelope envelope, IChannel channel, DeliveryTracker tracker)
    {
        Body = body;
        Properties = properties;
        Envelope = envelope;
        _channel = channel;
        _tracker = tracker;
    }

    public ReadOnlyMemory<byte> Body { get; }
    public IReadOnlyBasicProperties Properties { get; }
    public Envelope Envelope { get; }

    /// Completes when the ack was written to the channel (basic.ack has no reply in AMQP).
    /// Fails with AmqpDeliveryAlreadySettledException on a second settle of the same tag, and with the
    /// client's AlreadyClosedException when the channel that delivered this message is gone
    /// (the broker requeues the message then: expect a redelivery).
    public Task Ack(bool multiple = false) =>
        SettleAsync(multiple, (ch, tag, m) => ch.BasicAckAsync(tag, m));

    public Task Nack(bool requeue = true, bool multiple = false) =>
        SettleAsync(multiple, (ch, tag, m) => ch.BasicNackAsync(tag, m, requeue));

    private async Task SettleAsync(bool multiple, Func<IChannel, ulong, bool, ValueTask> send)
    {
        var tag = Envelope.DeliveryTag;
        if (!_tracker.TryClaim(tag, multiple))
            throw new AmqpDeliveryAlreadySettledException(tag);
        try
        {
            // RabbitMQ.Client 7 serialises concurrent writes on a channel itself: safe from any thread.
            await send(_channel, tag, multiple).ConfigureAwait(false);
        }
        finally
        {
            _tracker.Release();
        }
    }

    public override string ToString() =>
        $"CommittableIncomingMessage(tag={Envelope.DeliveryTag}, redelivered={Envelope.Redelivered}, {Body.Length} bytes)";
}

/// Unsettled delivery tags of one channel, shared by the stage and the messages it emitted.
/// The stage waits on it (after downstream cancel) before closing the channel.
internal sealed class DeliveryTracker
{
    private readonly object _lock = new();
    private readonly SortedSet<ulong> _unsettled = new();
    private int _settling;
    private Action? _onDrained;

    public void Add(ulong tag)
    {
        lock (_lock) _unsettled.Add(tag);
    }

    public bool TryClaim(ulong tag, bool multiple)
    {
        lock (_lock)
        {
            if (!_unsettled.Contains(tag)) return false;
            if (multiple) _unsettled.RemoveWhere(t => t <= tag);
            else _unsettled.Remove(tag);
            _settling++;
            return true;
        }
    }

    public void Release()
    {
        Action? notify;
        lock (_lock)
        {
            _settling--;
            notify = IsDrainedLocked ? _onDrained : null;
        }
        notify?.Invoke();
    }

    /// Registers a callback for when nothing is unsettled or being settled; true if already drained.
    public bool NotifyWhenDrained(Action onDrained)
    {
        lock (_lock)
        {
            _onDrained = onDrained;
            return IsDrainedLocked;
        }
    }

    private bool IsDrainedLocked => _unsettled.Count == 0 && _settling == 0;
}

namespace AkkaMail.Amqp;

public sealed record AmqpSourceSettings(AmqpConnectionSettings Connection, string Queue)
{
    /// basic.qos prefetch: the most unacknowledged deliveries the broker hands this source at once.
    /// It also bounds the stage's internal buffer.
    public ushort Prefetch { get; init; } = 50;

    /// Declared every time the source (re)connects, before consuming.
    public AmqpTopology Topology { get; init; } = AmqpTopology.Empty;

    /// Empty: the broker generates one.
    public string ConsumerTag { get; init; } = "";
    public bool ExclusiveConsumer { get; init; }
    public IReadOnlyDictionary<string, object?>? ConsumerArguments { get; init; }

    /// After downstream cancels, how long the channel stays open so that acks of elements
    /// already emitted can still reach the broker. Unacked deliveries return to the queue after it.
    public TimeSpan PendingAckTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

public sealed record AmqpSinkSettings(AmqpConnectionSettings Connection)
{
    /// Declared every time the flow/sink (re)connects, before publishing.
    public AmqpTopology Topology { get; init; } = AmqpTopology.Empty;
}

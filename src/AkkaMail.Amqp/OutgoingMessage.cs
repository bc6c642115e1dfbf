using RabbitMQ.Client;

namespace AkkaMail.Amqp;

/// A message to publish. Properties default to persistent delivery; a Properties value without a delivery
/// mode is published persistent too (set DeliveryMode = Transient explicitly to opt out).
/// The stage publishes a copy of Properties: the caller's instance is never mutated.
public record OutgoingMessage(string Exchange, string RoutingKey, ReadOnlyMemory<byte> Body)
{
    public BasicProperties? Properties { get; init; }

    /// Mandatory: an unroutable message comes back (basic.return) and its publish reports Failed.
    public bool Mandatory { get; init; }

    public OutgoingMessage<TPass> WithPassThrough<TPass>(TPass passThrough) =>
        new(Exchange, RoutingKey, Body, passThrough) { Properties = Properties, Mandatory = Mandatory };
}

/// A message to publish with a value handed back, untouched, in its PublishResult.
public sealed record OutgoingMessage<TPass>(string Exchange, string RoutingKey, ReadOnlyMemory<byte> Body, TPass PassThrough)
    : OutgoingMessage(Exchange, RoutingKey, Body);

/// The fate of one publish: Confirmed (the broker took responsibility: persisted for durable queues
/// and persistent messages) or Failed with the reason (nack, returned mandatory message, channel lost).
/// A Failed message may or may not have reached the queue: retry it if duplicates are acceptable.
public sealed record PublishResult<TPass>
{
    private PublishResult(TPass passThrough, Exception? error)
    {
        PassThrough = passThrough;
        Error = error;
    }

    public TPass PassThrough { get; }
    public Exception? Error { get; }
    public bool IsConfirmed => Error is null;

    public static PublishResult<TPass> Confirmed(TPass passThrough) => new(passThrough, null);
    public static PublishResult<TPass> Failed(TPass passThrough, Exception error) => new(passThrough, error);

    public override string ToString() => IsConfirmed ? $"Confirmed({PassThrough})" : $"Failed({PassThrough}, {Error!.Message})";
}

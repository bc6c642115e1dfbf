using RabbitMQ.Client;

namespace AkkaMail.Amqp;

public sealed record QueueDeclaration(string Name)
{
    public bool Durable { get; init; } = true;
    public bool Exclusive { get; init; }
    public bool AutoDelete { get; init; }
    public IReadOnlyDictionary<string, object?> Arguments { get; init; } = new Dictionary<string, object?>();

    public QueueDeclaration WithArguments(IReadOnlyDictionary<string, object?> more) =>
        this with { Arguments = QueueArguments.Merge(Arguments, more) };

    public QueueDeclaration WithDeadLetter(string exchange, string? routingKey = null) =>
        WithArguments(QueueArguments.DeadLetter(exchange, routingKey));

    public QueueDeclaration WithMessageTtl(TimeSpan ttl) => WithArguments(QueueArguments.MessageTtl(ttl));

    public QueueDeclaration WithQueueType(string queueType) => WithArguments(QueueArguments.QueueType(queueType));
}

public sealed record ExchangeDeclaration(string Name, string Type = ExchangeType.Direct)
{
    public bool Durable { get; init; } = true;
    public bool AutoDelete { get; init; }
    public IReadOnlyDictionary<string, object?> Arguments { get; init; } = new Dictionary<string, object?>();
}

public sealed record BindingDeclaration(string Queue, string Exchange, string RoutingKey = "")
{
    public IReadOnlyDictionary<string, object?> Arguments { get; init; } = new Dictionary<string, object?>();
}

/// Helpers for the x-arguments of a queue declaration.
public static class QueueArguments
{
    public const string DeadLetterExchangeKey = "x-dead-letter-exchange";
    public const string DeadLetterRoutingKeyKey = "x-dead-letter-routing-key";
    public const string MessageTtlKey = "x-message-ttl";
    public const string QueueTypeKey = "x-queue-type";
    public const string MaxLengthKey = "x-max-length";
    public const string DeliveryLimitKey = "x-delivery-limit";

    /// "" is the default exchange: with a routing key it dead-letters straight into the queue of that name.
    public static IReadOnlyDictionary<string, object?> DeadLetter(string exchange, string? routingKey = null)
    {
        var args = new Dictionary<string, object?> { [DeadLetterExchangeKey] = exchange };
        if (routingKey is not null) args[DeadLetterRoutingKeyKey] = routingKey;
        return args;
    }

    // The broker wants an integer (milliseconds); a string is rejected with PRECONDITION_FAILED.
    public static IReadOnlyDictionary<string, object?> MessageTtl(TimeSpan ttl) =>
        new Dictionary<string, object?> { [MessageTtlKey] = checked((long)ttl.TotalMilliseconds) };

    public static IReadOnlyDictionary<string, object?> QueueType(string queueType) =>
        new Dictionary<string, object?> { [QueueTypeKey] = queueType };

    public static IReadOnlyDictionary<string, object?> Merge(
        IReadOnlyDictionary<string, object?> a, IReadOnlyDictionary<string, object?> b)
    {
        var result = new Dictionary<string, object?>(a);
        foreach (var (k, v) in b) result[k] = v;
        return result;
    }
}

/// Exchanges, queues and bindings a stage declares (idempotently) each time it connects,
/// so that a restarted stage finds its topology even after the broker lost non-durable parts.
public sealed record AmqpTopology
{
    public static AmqpTopology Empty { get; } = new();

    public IReadOnlyList<ExchangeDeclaration> Exchanges { get; init; } = [];
    public IReadOnlyList<QueueDeclaration> Queues { get; init; } = [];
    public IReadOnlyList<BindingDeclaration> Bindings { get; init; } = [];

    public bool IsEmpty => Exchanges.Count == 0 && Queues.Count == 0 && Bindings.Count == 0;

    public AmqpTopology WithExchange(ExchangeDeclaration e) => this with { Exchanges = [.. Exchanges, e] };
    public AmqpTopology WithQueue(QueueDeclaration q) => this with { Queues = [.. Queues, q] };
    public AmqpTopology WithBinding(BindingDeclaration b) => this with { Bindings = [.. Bindings, b] };
    public AmqpTopology Combine(AmqpTopology other) => this with
    {
        Exchanges = [.. Exchanges, .. other.Exchanges],
        Queues = [.. Queues, .. other.Queues],
        Bindings = [.. Bindings, .. other.Bindings],
    };

    // Exchanges and queues first: a binding needs both ends.
    public async Task DeclareAsync(IChannel channel, CancellationToken cancellationToken = default)
    {
        foreach (var e in Exchanges)
            await channel.ExchangeDeclareAsync(e.Name, e.Type, e.Durable, e.AutoDelete, ToArgs(e.Arguments),
                passive: false, noWait: false, cancellationToken).ConfigureAwait(false);
        foreach (var q in Queues)
            await channel.QueueDeclareAsync(q.Name, q.Durable, q.Exclusive, q.AutoDelete, ToArgs(q.Arguments),
                passive: false, noWait: false, cancellationToken).ConfigureAwait(false);
        foreach (var b in Bindings)
            await channel.QueueBindAsync(b.Queue, b.Exchange, b.RoutingKey, ToArgs(b.Arguments),
                noWait: false, cancellationToken).ConfigureAwait(false);
    }

    private static Dictionary<string, object?>? ToArgs(IReadOnlyDictionary<string, object?> args) =>
        args.Count == 0 ? null : new Dictionary<string, object?>(args);
}

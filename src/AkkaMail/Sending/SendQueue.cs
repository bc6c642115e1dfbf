using System.Threading.Channels;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace AkkaMail.Sending;

/// <summary>A job on the send queue: send attempt <paramref name="Attempt"/> of an email.</summary>
public sealed record SendJob(string EmailId, int Attempt);

/// <summary>A job as the consumer receives it; ack when its outcome is persisted, nack to give it back.</summary>
public sealed record SendJobDelivery(SendJob Job, bool Redelivered, Func<Task> Ack, Func<bool, Task> Nack);

/// <summary>
/// The transport between dispatch and the sender stream: in-process by default, RabbitMQ in production.
/// The journal, not the queue, is the truth: a job lost by the transport is found again by the dispatch sweep.
/// </summary>
public interface ISendQueue : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Whether queued jobs survive a restart of this process.</summary>
    bool IsDurable { get; }

    /// <summary>Completes when the job is durably queued (for RabbitMQ: when the broker confirmed it).</summary>
    Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default);

    /// <summary>Parks a job that ran out of attempts where an operator can see it.</summary>
    Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default);

    /// <summary>The deliveries, with backpressure. Materialize once.</summary>
    Source<SendJobDelivery, NotUsed> Deliveries();

    /// <summary>
    /// Runs the queue's own streams (a publisher feeding the broker) on <paramref name="materializer"/>: the actor that
    /// owns the queue's writing side (the dispatcher) calls it, so those streams live and die with that actor and the
    /// queue never reaches for the actor system. Called again (the actor restarted), it replaces the streams it
    /// started before. Until it is called, enqueued jobs wait. A queue without streams of its own ignores it.
    /// </summary>
    void RunStreams(IMaterializer materializer) { }
}

/// <summary>
/// The embedded transport: a bounded in-memory channel feeding an Akka.Streams source. Not durable; it needs
/// not be, since the sweep re-dispatches from the journal after a restart.
/// </summary>
public sealed class InProcSendQueue(int capacity) : ISendQueue
{
    private readonly Channel<SendJobDelivery> _channel =
        Channel.CreateBounded<SendJobDelivery>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<SendJob> _deadLetters = new();

    public string Name => "inproc";

    /// <summary>Jobs waiting to be consumed (the queue-depth gauge).</summary>
    public long Depth => _channel.Reader.Count;
    public bool IsDurable => false;

    public IReadOnlyList<SendJob> DeadLetters { get { lock (_deadLetters) return _deadLetters.ToArray(); } }

    public async Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default)
    {
        if (delay > TimeSpan.Zero)
        {
            // Accepted now, delivered later: the delay lives in memory, the journal keeps the truth.
            _ = Task.Delay(delay, _stopping.Token).ContinueWith(
                _ => WriteAsync(job, redelivered: false, CancellationToken.None), TaskContinuationOptions.OnlyOnRanToCompletion);
            return;
        }
        await WriteAsync(job, redelivered: false, ct);
    }

    private ValueTask WriteAsync(SendJob job, bool redelivered, CancellationToken ct) =>
        _channel.Writer.WriteAsync(new SendJobDelivery(job, redelivered, () => Task.CompletedTask,
            requeue => requeue ? WriteAsync(job, redelivered: true, CancellationToken.None).AsTask() : Task.CompletedTask), ct);

    public Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default)
    {
        lock (_deadLetters) _deadLetters.Add(job);
        return Task.CompletedTask;
    }

    public Source<SendJobDelivery, NotUsed> Deliveries() => ChannelSource.FromReader(_channel.Reader);

    public ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _channel.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

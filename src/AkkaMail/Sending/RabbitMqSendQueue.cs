using System.Text.Json;
using System.Threading.Channels;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Amqp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace AkkaMail.Sending;

/// <summary>
/// The production transport: durable queues on RabbitMQ through our Akka.Streams connector (AkkaMail.Amqp).
/// <list type="bullet">
/// <item>Work queue: jobs ready to send. Consumed with manual acks and prefetch (basic.qos) by
/// <see cref="Deliveries"/>; a message rejected without requeue dead-letters to the dead-letter queue.</item>
/// <item>Delay queues, one per fixed TTL bucket (RabbitMQ's per-message TTL only expires at the head of a queue,
/// so each queue holds one TTL): an expired message dead-letters back into the work queue. A delay is split
/// greedily into buckets: the job goes to the largest bucket not longer than the delay (the smallest bucket if
/// none), carries its due time in a header, and a job that comes back before it is due is delayed again with
/// the remainder, inside this class. So a job never comes out early, and at most one smallest bucket late.
/// Retries (backoff, a 429's retry-after) and scheduled sends (up to days ahead) take this path; both survive
/// a restart of the service, since the queues are durable and the messages persistent.</item>
/// <item>Dead-letter queue: jobs that ran out of attempts, with the reason in a header, for an operator.</item>
/// </list>
/// Publishing goes through one long-lived confirming flow fed by a channel: many publishes in flight, each
/// caller's task completes on its own confirm and fails on a nack, a return or a lost channel. That flow runs on the
/// materializer of the actor that owns the writing side (<see cref="RunStreams"/>).
/// </summary>
public sealed class RabbitMqSendQueue : ISendQueue, Observability.IHealthProbe
{
    public const string DueAtHeader = "x-akkamail-due-at";
    public const string ReasonHeader = "x-akkamail-reason";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private readonly RabbitMqSendQueueSettings _settings;
    private readonly ILogger _log;
    private readonly AmqpConnectionSettings _publisherConnection;
    private readonly AmqpConnectionSettings _consumerConnection;
    private readonly AmqpTopology _topology;
    private readonly Channel<OutgoingMessage<TaskCompletionSource>> _outbox;
    private readonly object _startLock = new();
    private UniqueKillSwitch? _publisher;
    private readonly TimeProvider _clock;
    private bool _disposed;
    private long _confirmed;
    private long _failed;
    private long _redelayed;

    public RabbitMqSendQueue(RabbitMqSendQueueSettings settings, ILogger? log = null, TimeProvider? clock = null)
    {
        _settings = settings;
        _log = log ?? NullLogger.Instance;
        _clock = clock ?? TimeProvider.System;
        _publisherConnection = AmqpConnectionSettings.FromUri(settings.Uri, "akkamail-publisher:" + settings.WorkQueue);
        _consumerConnection = AmqpConnectionSettings.FromUri(settings.Uri, "akkamail-consumer:" + settings.WorkQueue);
        _topology = BuildTopology(settings);
        _outbox = Channel.CreateBounded<OutgoingMessage<TaskCompletionSource>>(
            // Not single-reader: a replaced publisher may still be reading while its successor starts.
            new BoundedChannelOptions(Math.Max(settings.PublishMaxInFlight, 16)) { SingleReader = false });
    }

    public string Name => "rabbitmq";
    public bool IsDurable => true;
    public RabbitMqSendQueueSettings Settings => _settings;

    /// <summary>Publishes the broker confirmed / did not confirm, and jobs delayed again because they came back early.</summary>
    public (long Confirmed, long Failed, long Redelayed) Counters =>
        (Interlocked.Read(ref _confirmed), Interlocked.Read(ref _failed), Interlocked.Read(ref _redelayed));

    /// <summary>Every queue this transport declares (work, delay buckets, dead letters).</summary>
    public IEnumerable<string> QueueNames => _topology.Queues.Select(q => q.Name);

    public static AmqpTopology BuildTopology(RabbitMqSendQueueSettings s)
    {
        var work = new QueueDeclaration(s.WorkQueue).WithDeadLetter("", s.DeadLetterQueue);
        if (s.WorkQueueMaxLength > 0)
            work = work.WithArguments(new Dictionary<string, object?>
            {
                [QueueArguments.MaxLengthKey] = s.WorkQueueMaxLength,
                ["x-overflow"] = "reject-publish",
            });
        var topology = AmqpTopology.Empty
            .WithQueue(new QueueDeclaration(s.DeadLetterQueue))
            .WithQueue(work);
        foreach (var bucket in s.DelayBuckets)
            topology = topology.WithQueue(new QueueDeclaration(s.DelayQueueName(bucket))
                .WithMessageTtl(bucket)
                .WithDeadLetter("", s.WorkQueue));
        return topology;
    }

    /// <summary>The delay queue bucket for a wait: the largest bucket not longer than it, else the smallest.</summary>
    public TimeSpan BucketFor(TimeSpan delay)
    {
        var buckets = _settings.DelayBuckets;
        var chosen = buckets[0];
        foreach (var b in buckets)
        {
            if (b > delay) break;
            chosen = b;
        }
        return chosen;
    }

    public Task EnqueueAsync(SendJob job, TimeSpan delay, CancellationToken ct = default)
    {
        var dueAt = delay > TimeSpan.Zero ? _clock.GetUtcNow() + delay : (DateTimeOffset?)null;
        return PublishJobAsync(job, dueAt, ct);
    }

    private Task PublishJobAsync(SendJob job, DateTimeOffset? dueAt, CancellationToken ct)
    {
        var props = NewProperties(job);
        string routingKey;
        if (dueAt is { } due && due > _clock.GetUtcNow())
        {
            props.Headers = new Dictionary<string, object?> { [DueAtHeader] = due.ToUnixTimeMilliseconds() };
            routingKey = _settings.DelayQueueName(BucketFor(due - _clock.GetUtcNow()));
        }
        else routingKey = _settings.WorkQueue;
        return PublishAsync(routingKey, job, props, ct);
    }

    public Task DeadLetterAsync(SendJob job, string reason, CancellationToken ct = default)
    {
        var props = NewProperties(job);
        props.Headers = new Dictionary<string, object?>
        {
            [ReasonHeader] = reason.Length > 1000 ? reason[..1000] : reason,
            ["x-akkamail-dead-lettered-at"] = _clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        return PublishAsync(_settings.DeadLetterQueue, job, props, ct);
    }

    private static BasicProperties NewProperties(SendJob job) => new()
    {
        ContentType = "application/json",
        DeliveryMode = DeliveryModes.Persistent,
        MessageId = job.EmailId + ":" + job.Attempt,
        Type = "send-email",
    };

    private async Task PublishAsync(string routingKey, SendJob job, BasicProperties props, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var body = JsonSerializer.SerializeToUtf8Bytes(job, JsonOptions);
        var message = new OutgoingMessage<TaskCompletionSource>("", routingKey, body, done) { Properties = props, Mandatory = true };
        await _outbox.Writer.WriteAsync(message, ct).ConfigureAwait(false);
        // An element caught inside the restarting flow at the instant of a failure can vanish without a result:
        // the timeout turns that into a failed enqueue, which the dispatcher retries.
        await done.Task.WaitAsync(_settings.PublishTimeout, ct).ConfigureAwait(false);
    }

    public void RunStreams(IMaterializer materializer)
    {
        lock (_startLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _publisher?.Shutdown();
            var (publisher, done) = ChannelSource.FromReader(_outbox.Reader)
                .ViaMaterialized(KillSwitches.Single<OutgoingMessage<TaskCompletionSource>>(), Keep.Right)
                .Via(AmqpFlow.WithConfirmsWithRestart<TaskCompletionSource>(
                    new AmqpSinkSettings(_publisherConnection) { Topology = _topology },
                    _settings.PublishMaxInFlight, RestartSettings()))
                .ToMaterialized(Sink.ForEach<PublishResult<TaskCompletionSource>>(r =>
                {
                    if (r.IsConfirmed)
                    {
                        Interlocked.Increment(ref _confirmed);
                        r.PassThrough.TrySetResult();
                    }
                    else
                    {
                        Interlocked.Increment(ref _failed);
                        r.PassThrough.TrySetException(r.Error!);
                    }
                }), Keep.Both)
                .Run(materializer);
            _publisher = publisher;
            done.ContinueWith(t =>
            {
                if (t.IsFaulted && !_disposed) _log.LogError(t.Exception, "RabbitMQ publisher stream ended");
            }, TaskScheduler.Default);
        }
    }

    private RestartSettings RestartSettings() =>
        Akka.Streams.RestartSettings.Create(_settings.RestartMinBackoff, _settings.RestartMaxBackoff, 0.2);

    /// <summary>
    /// The work queue's deliveries, with backpressure: the broker hands out at most <c>prefetch</c> unacked
    /// messages. Restarts by itself (new connection, channel, consumer) after a failure, with backoff.
    /// A job that arrives before its due time is put back into a delay queue (confirmed) and acked here;
    /// an unreadable message is rejected to the dead-letter queue.
    /// </summary>
    public Source<SendJobDelivery, NotUsed> Deliveries()
    {
        var sourceSettings = new AmqpSourceSettings(_consumerConnection, _settings.WorkQueue)
        {
            Prefetch = _settings.Prefetch,
            Topology = _topology,
        };
        return AmqpSource.CommittableWithRestart(sourceSettings, RestartSettings())
            .SelectAsyncUnordered(Math.Max(1, (int)_settings.Prefetch), Route)
            .Where(r => r.Delivery is not null)
            .Select(r => r.Delivery!);
    }

    private sealed record Routed(SendJobDelivery? Delivery);
    private static readonly Routed Skipped = new((SendJobDelivery?)null);

    private Task<Routed> Route(CommittableIncomingMessage m)
    {
        SendJob? job;
        try
        {
            job = JsonSerializer.Deserialize<SendJob>(m.Body.Span, JsonOptions);
            if (job is null || string.IsNullOrEmpty(job.EmailId) || job.Attempt < 1) throw new JsonException("not a send job");
        }
        catch (JsonException ex)
        {
            _log.LogError(ex, "Unreadable message on {Queue} (tag {Tag}): to the dead-letter queue", _settings.WorkQueue, m.Envelope.DeliveryTag);
            return SettleThen(m.Nack(requeue: false));
        }
        if (DueAt(m.Properties) is { } due && due > _clock.GetUtcNow())
            return Redelay(m, job, due);
        var delivery = new SendJobDelivery(job, m.Envelope.Redelivered, () => m.Ack(), requeue => m.Nack(requeue));
        return Task.FromResult(new Routed(delivery));
    }

    private async Task<Routed> Redelay(CommittableIncomingMessage m, SendJob job, DateTimeOffset due)
    {
        try
        {
            await PublishJobAsync(job, due, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Increment(ref _redelayed);
            await m.Ack().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _log.LogWarning(ex, "Email {EmailId}: could not delay attempt {Attempt} again; giving it back", job.EmailId, job.Attempt);
            try { await m.Nack(requeue: true).ConfigureAwait(false); } catch (Exception) { /* channel gone: redelivered */ }
        }
        return Skipped;
    }

    private static async Task<Routed> SettleThen(Task settle)
    {
        try { await settle.ConfigureAwait(false); } catch (Exception) { /* channel gone: it comes back */ }
        return Skipped;
    }

    private static DateTimeOffset? DueAt(IReadOnlyBasicProperties props)
    {
        if (props.Headers is null || !props.Headers.TryGetValue(DueAtHeader, out var raw)) return null;
        return raw switch
        {
            long l => DateTimeOffset.FromUnixTimeMilliseconds(l),
            int i => DateTimeOffset.FromUnixTimeMilliseconds(i),
            _ => null,
        };
    }

    private RabbitMQ.Client.IConnection? _probeConnection;
    private readonly SemaphoreSlim _probeLock = new(1, 1);

    /// <summary>
    /// Readiness: the broker answers on a connection of our own (kept open between probes) and the work queue
    /// exists. A stopped broker closes it; the next probe reconnects once the broker is back.
    /// </summary>
    public async Task<(bool Healthy, string Detail)> ProbeAsync(CancellationToken ct)
    {
        await _probeLock.WaitAsync(ct);
        try
        {
            if (_probeConnection is not { IsOpen: true })
            {
                if (_probeConnection is not null) await _probeConnection.DisposeAsync();
                _probeConnection = null;
                var factory = AmqpConnectionSettings.FromUri(_settings.Uri, "akkamail-health").CreateFactory();
                factory.AutomaticRecoveryEnabled = false;
                factory.RequestedConnectionTimeout = TimeSpan.FromSeconds(2);
                _probeConnection = await factory.CreateConnectionAsync(ct);
            }
            await using var channel = await _probeConnection.CreateChannelAsync(cancellationToken: ct);
            var ok = await channel.QueueDeclarePassiveAsync(_settings.WorkQueue, ct);
            return (true, $"connected; {ok.MessageCount} jobs ready in {_settings.WorkQueue}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return (false, $"broker unreachable: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            _probeLock.Release();
        }
    }

    public ValueTask DisposeAsync()
    {
        _probeConnection?.Dispose();
        lock (_startLock) _disposed = true;
        _outbox.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

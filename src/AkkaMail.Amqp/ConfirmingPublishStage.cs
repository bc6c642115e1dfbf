using Akka.Streams;
using Akka.Streams.Stage;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkkaMail.Amqp;

/// Publishes with confirms, up to maxInFlight unconfirmed at once, on one channel with the client's own
/// confirmation tracking (each BasicPublishAsync task completes on the broker's ack, throws on nack/return).
/// Results are emitted in input order. A failed publish is an element (Failed), not a stream failure;
/// the stage fails only when its channel/connection closes, after emitting Failed for everything in flight.
internal sealed class ConfirmingPublishStage<TPass>(AmqpSinkSettings settings, int maxInFlight)
    : GraphStage<FlowShape<OutgoingMessage<TPass>, PublishResult<TPass>>>
{
    private readonly Inlet<OutgoingMessage<TPass>> _in = new("AmqpConfirmingPublish.in");
    private readonly Outlet<PublishResult<TPass>> _out = new("AmqpConfirmingPublish.out");
    private readonly AmqpSinkSettings _settings = settings;
    private readonly int _maxInFlight = maxInFlight > 0
        ? maxInFlight
        : throw new ArgumentOutOfRangeException(nameof(maxInFlight), "must be positive");

    public override FlowShape<OutgoingMessage<TPass>, PublishResult<TPass>> Shape => new(_in, _out);

    protected override Attributes InitialAttributes => Attributes.CreateName("AmqpConfirmingPublish");

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed record Connected(IConnection Connection, IChannel Channel);

    private sealed class Entry(TPass passThrough)
    {
        public TPass PassThrough { get; } = passThrough;
        public PublishResult<TPass>? Result { get; set; }
    }

    private sealed class Logic : GraphStageLogic
    {
        private readonly ConfirmingPublishStage<TPass> _stage;
        private readonly Queue<Entry> _inFlight = new();
        private Task<Connected>? _setup;
        private Connected? _connected;
        private bool _failing;
        private volatile bool _stopping;
        // Confirms arrive on pool threads; they are queued here and the stage is woken once per batch of them,
        // not once per confirm: at most one async-callback message is pending at any time.
        private readonly System.Collections.Concurrent.ConcurrentQueue<(Entry, Task)> _completed = new();
        private int _wakeUpPending;
        private Action _onPublished = null!;
        private Action<Exception> _onShutdown = null!;

        public Logic(ConfirmingPublishStage<TPass> stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage._in, onPush: OnPush, onUpstreamFinish: OnUpstreamFinish);
            SetHandler(stage._out, onPull: Drain);
        }

        public override void PreStart()
        {
            _onPublished = GetAsyncCallback(OnPublished);
            _onShutdown = GetAsyncCallback<Exception>(OnShutdown);
            var onConnected = GetAsyncCallback<Connected>(c => { _connected = c; MaybePull(); });
            var onSetupFailed = GetAsyncCallback<Exception>(FailStage);
            _setup = Task.Run(SetupAsync);
            _setup.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) onConnected(t.Result);
                else onSetupFailed(t.Exception?.GetBaseException() ?? new TaskCanceledException());
            }, TaskContinuationOptions.ExecuteSynchronously);
        }

        private async Task<Connected> SetupAsync()
        {
            var settings = _stage._settings;
            var connection = await settings.Connection.CreateConnectionAsync().ConfigureAwait(false);
            try
            {
                // The client's limiter starts delaying publishes at half its limit: give it twice our own cap
                // so that it never throttles below maxInFlight (the stage already bounds what is in flight).
                var limiter = new ThrottlingRateLimiter(Math.Max(2 * _stage._maxInFlight, 128));
                var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
                    publisherConfirmationsEnabled: true,
                    publisherConfirmationTrackingEnabled: true,
                    outstandingPublisherConfirmationsRateLimiter: limiter)).ConfigureAwait(false);
                channel.ChannelShutdownAsync += (_, reason) =>
                {
                    if (!_stopping) _onShutdown(new AmqpChannelClosedException(reason));
                    return Task.CompletedTask;
                };
                await settings.Topology.DeclareAsync(channel).ConfigureAwait(false);
                return new Connected(connection, channel);
            }
            catch
            {
                await CommittableSourceStage.CloseQuietlyAsync(null, connection).ConfigureAwait(false);
                throw;
            }
        }

        private void OnPush()
        {
            var message = Grab(_stage._in);
            var entry = new Entry(message.PassThrough);
            _inFlight.Enqueue(entry);
            Task publish;
            try
            {
                publish = _connected!.Channel.BasicPublishAsync(message.Exchange, message.RoutingKey, message.Mandatory,
                    PropertiesFor(message), message.Body).AsTask();
            }
            catch (Exception e)
            {
                publish = Task.FromException(e);
            }

            if (publish.IsCompleted)
            {
                Complete(entry, publish);
                Drain();
            }
            else
            {
                publish.ContinueWith(t =>
                {
                    _completed.Enqueue((entry, t));
                    if (Interlocked.Exchange(ref _wakeUpPending, 1) == 0) _onPublished();
                }, TaskContinuationOptions.ExecuteSynchronously);
                MaybePull();
            }
        }

        private void OnPublished()
        {
            // Reset before draining: a completion enqueued after this line wakes us again.
            Volatile.Write(ref _wakeUpPending, 0);
            while (_completed.TryDequeue(out var done)) Complete(done.Item1, done.Item2);
            Drain();
        }

        private static BasicProperties PropertiesFor(OutgoingMessage message)
        {
            // A fresh instance per publish: with tracking on, the client adds a sequence-number header to it.
            if (message.Properties is not { } source) return new BasicProperties { Persistent = true };
            var props = new BasicProperties(source);
            if (source.Headers is not null) props.Headers = new Dictionary<string, object?>(source.Headers);
            if (!source.IsDeliveryModePresent()) props.Persistent = true;
            return props;
        }

        private void Complete(Entry entry, Task publish)
        {
            if (entry.Result is not null) return; // already failed by a shutdown
            entry.Result = publish.IsCompletedSuccessfully
                ? PublishResult<TPass>.Confirmed(entry.PassThrough)
                : PublishResult<TPass>.Failed(entry.PassThrough, Describe(publish));
        }

        private static Exception Describe(Task publish)
        {
            var e = publish.Exception?.GetBaseException() ?? new TaskCanceledException();
            return e switch
            {
                PublishException { IsReturn: true } => new AmqpPublishFailedException("message returned as unroutable (mandatory)", e),
                PublishException => new AmqpPublishFailedException("broker nacked the message", e),
                _ => new AmqpPublishFailedException("publish not confirmed: " + e.Message, e),
            };
        }

        private void Drain()
        {
            if (_failing) return;
            while (_inFlight.Count > 0 && _inFlight.Peek().Result is { } result && IsAvailable(_stage._out))
            {
                _inFlight.Dequeue();
                Push(_stage._out, result);
            }
            if (_inFlight.Count == 0 && IsClosed(_stage._in)) CompleteStage();
            else MaybePull();
        }

        private void MaybePull()
        {
            if (_connected is not null && !_failing && _inFlight.Count < _stage._maxInFlight
                && !HasBeenPulled(_stage._in) && !IsClosed(_stage._in))
                Pull(_stage._in);
        }

        private void OnUpstreamFinish()
        {
            // Keep running until every publish in flight is confirmed or failed and emitted.
            if (_inFlight.Count == 0) CompleteStage();
        }

        private void OnShutdown(Exception reason)
        {
            if (_failing) return;
            _failing = true;
            // Everything not yet confirmed is reported Failed (the caller may retry), then the stage fails
            // so a RestartFlow can reconnect.
            var results = new List<PublishResult<TPass>>(_inFlight.Count);
            foreach (var entry in _inFlight)
                results.Add(entry.Result ?? PublishResult<TPass>.Failed(entry.PassThrough,
                    new AmqpPublishFailedException("channel closed before the broker confirmed", reason)));
            _inFlight.Clear();
            if (results.Count == 0) FailStage(reason);
            else EmitMultiple(_stage._out, results, () => FailStage(reason));
        }

        public override void PostStop()
        {
            _stopping = true;
            _setup?.ContinueWith(t =>
                t.IsCompletedSuccessfully
                    ? CommittableSourceStage.CloseQuietlyAsync(t.Result.Channel, t.Result.Connection)
                    : Task.CompletedTask, TaskScheduler.Default).Unwrap();
            base.PostStop();
        }
    }
}

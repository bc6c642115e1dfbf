using Akka.Event;
using Akka.Streams;
using Akka.Streams.Stage;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkkaMail.Amqp;

/// Consumes one queue with manual acks. Never blocks the stage: connecting, declaring and consuming
/// run on the thread pool and report back through async callbacks.
internal sealed class CommittableSourceStage(AmqpSourceSettings settings)
    : GraphStage<SourceShape<CommittableIncomingMessage>>
{
    private readonly Outlet<CommittableIncomingMessage> _out = new("AmqpCommittableSource.out");
    private readonly AmqpSourceSettings _settings = settings;

    public override SourceShape<CommittableIncomingMessage> Shape => new(_out);

    protected override Attributes InitialAttributes => Attributes.CreateName("AmqpCommittableSource");

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed record Connected(IConnection Connection, IChannel Channel, string ConsumerTag);

    private sealed class Logic : TimerGraphStageLogic
    {
        private const string DrainTimer = "drain";
        private readonly CommittableSourceStage _stage;
        private readonly Queue<CommittableIncomingMessage> _buffer = new();
        private readonly DeliveryTracker _tracker = new();
        private Task<Connected>? _setup;
        private Connected? _connected;
        private bool _draining;
        private volatile bool _stopping; // set before we close the channel ourselves: not a failure

        // Deliveries arrive on the client's dispatcher thread, in order (dispatch concurrency 1). They are queued
        // here and the stage is woken once per batch, not once per message.
        private readonly System.Collections.Concurrent.ConcurrentQueue<CommittableIncomingMessage> _arrived = new();
        private int _wakeUpPending;
        private Action _onDelivery = null!;
        private Action<Exception> _onFailure = null!;
        private Action _onDrained = null!;

        public Logic(CommittableSourceStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage._out, onPull: OnPull, onDownstreamFinish: OnDownstreamFinish);
        }

        private AmqpSourceSettings Settings => _stage._settings;

        public override void PreStart()
        {
            _onDelivery = GetAsyncCallback(OnArrived);
            _onFailure = GetAsyncCallback<Exception>(FailStage);
            var onConnected = GetAsyncCallback<Connected>(c => _connected = c);
            _onDrained = GetAsyncCallback(() => { if (_draining) CompleteStage(); });

            _setup = Task.Run(SetupAsync);
            _setup.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) onConnected(t.Result);
                else _onFailure(t.Exception?.GetBaseException() ?? new TaskCanceledException());
            }, TaskContinuationOptions.ExecuteSynchronously);
        }

        private async Task<Connected> SetupAsync()
        {
            var connection = await Settings.Connection.CreateConnectionAsync().ConfigureAwait(false);
            try
            {
                var channel = await connection.CreateChannelAsync().ConfigureAwait(false);
                channel.ChannelShutdownAsync += (_, reason) =>
                {
                    if (!_stopping) _onFailure(new AmqpChannelClosedException(reason));
                    return Task.CompletedTask;
                };
                await Settings.Topology.DeclareAsync(channel).ConfigureAwait(false);
                await channel.BasicQosAsync(0, Settings.Prefetch, global: false).ConfigureAwait(false);

                var consumer = new Consumer(channel, this).Start();
                var tag = await channel.BasicConsumeAsync(Settings.Queue, autoAck: false, Settings.ConsumerTag,
                    noLocal: false, exclusive: Settings.ExclusiveConsumer,
                    arguments: Settings.ConsumerArguments is null ? null : new Dictionary<string, object?>(Settings.ConsumerArguments),
                    consumer).ConfigureAwait(false);
                return new Connected(connection, channel, tag);
            }
            catch
            {
                await CloseQuietlyAsync(null, connection).ConfigureAwait(false);
                throw;
            }
        }

        private sealed class Consumer(IChannel channel, Logic logic) : AsyncEventingBasicConsumer(channel)
        {
            public Consumer Start()
            {
                ReceivedAsync += (_, ea) =>
                {
                    // ea.Body (and the properties' memory) belong to the client only during this call: copy.
                    var props = new BasicProperties(ea.BasicProperties);
                    if (props.Headers is not null) props.Headers = new Dictionary<string, object?>(props.Headers);
                    logic._tracker.Add(ea.DeliveryTag);
                    var message = new CommittableIncomingMessage(ea.Body.ToArray(), props,
                        new Envelope(ea.DeliveryTag, ea.Redelivered, ea.Exchange, ea.RoutingKey, ea.ConsumerTag),
                        Channel, logic._tracker);
                    logic._arrived.Enqueue(message);
                    if (Interlocked.Exchange(ref logic._wakeUpPending, 1) == 0) logic._onDelivery();
                    return Task.CompletedTask;
                };
                return this;
            }

            public override Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
            {
                // Broker-initiated cancel (our own basic.cancel arrives as HandleBasicCancelOkAsync).
                if (!logic._stopping) logic._onFailure(new AmqpConsumerCancelledException(logic.Settings.Queue, consumerTag));
                return base.HandleBasicCancelAsync(consumerTag, cancellationToken);
            }
        }

        private void OnArrived()
        {
            // Reset before taking: a delivery enqueued after this line wakes us again.
            Volatile.Write(ref _wakeUpPending, 0);
            while (_arrived.TryDequeue(out var message))
            {
                // Arrived between our basic.cancel and its cancel-ok: give it straight back.
                if (_draining) Observe(message.Nack(requeue: true));
                else _buffer.Enqueue(message);
            }
            if (_buffer.Count > 0 && IsAvailable(_stage._out)) Push(_stage._out, _buffer.Dequeue());
        }

        private void OnPull()
        {
            if (_buffer.Count > 0) Push(_stage._out, _buffer.Dequeue());
        }

        private void OnDownstreamFinish(Exception cause)
        {
            if (_connected is null)
            {
                CompleteStage(); // PostStop closes whatever the setup still produces
                return;
            }

            // Like Alpakka: stop consuming, but keep the channel open until emitted elements are settled.
            SetKeepGoing(true);
            _draining = true;
            var (_, channel, tag) = _connected;
            Observe(channel.BasicCancelAsync(tag));
            while (_buffer.Count > 0) Observe(_buffer.Dequeue().Nack(requeue: true));

            if (_tracker.NotifyWhenDrained(_onDrained)) CompleteStage();
            else ScheduleOnce(DrainTimer, Settings.PendingAckTimeout);
        }

        protected override void OnTimer(object timerKey)
        {
            if (timerKey is DrainTimer)
            {
                Log.Warning("AMQP source on {0}: pending acks not settled within {1}; closing the channel, " +
                            "unacked deliveries return to the queue", Settings.Queue, Settings.PendingAckTimeout);
                CompleteStage();
            }
        }

        public override void PostStop()
        {
            _stopping = true;
            var setup = _setup;
            if (setup is not null)
            {
                _ = setup.ContinueWith(t =>
                    t.IsCompletedSuccessfully ? CloseQuietlyAsync(t.Result.Channel, t.Result.Connection) : Task.CompletedTask,
                    TaskScheduler.Default).Unwrap();
            }
            base.PostStop();
        }

        private static void Observe(Task task) =>
            task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    internal static async Task CloseQuietlyAsync(IChannel? channel, IConnection connection)
    {
        try
        {
            if (channel is { IsOpen: true }) await channel.CloseAsync().ConfigureAwait(false);
        }
        catch
        {
            // closing a broken channel: nothing left to do
        }
        try
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch
        {
            // idem
        }
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch
        {
            // idem
        }
    }
}

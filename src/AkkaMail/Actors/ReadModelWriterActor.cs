using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.ReadModel;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Actors;

/// <summary>
/// Writes email views to the read model in batches (one transaction per batch; the newest version per email
/// wins), then tells whoever asked to be told. A batch that cannot be written is retried with backoff.
/// </summary>
/// <remarks>
/// Two speeds. A view somebody waits for (the 202 of a POST waits until a GET can find the email) goes into the
/// next batch, at most <c>window</c> away. A view nobody waits for (the email was dispatched, is being sent, was
/// sent...) waits up to <c>backgroundWindow</c> with the others of its email, and only the newest is written:
/// an email's changes a few milliseconds apart cost one upsert, not one each.
/// </remarks>
public sealed class ReadModelWriterActor : ReceiveActor, IWithTimers
{
    public const string Name = "read-model-writer";

    /// <summary>Write every view received so far, then answer <see cref="Flushed"/> (graceful shutdown).</summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
    }

    public sealed record Flushed
    {
        public static readonly Flushed Instance = new();
    }

    private sealed record FlushBackground
    {
        public static readonly FlushBackground Instance = new();
    }

    private sealed record Written(int Count);

    private readonly Channel<UpsertView> _pending = Channel.CreateUnbounded<UpsertView>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, EmailView> _background = new();
    private readonly List<(long Target, IActorRef ReplyTo)> _flushWaiters = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly int _batchSize;
    private readonly TimeSpan _backgroundWindow;
    private long _enqueued;
    private long _written;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="backgroundWindow">How long a view nobody waits for may wait (null or ≤ window: no waiting).</param>
    public ReadModelWriterActor(IEmailReadStore store, int batchSize, TimeSpan window, TimeSpan? backgroundWindow = null)
    {
        _batchSize = batchSize;
        _backgroundWindow = backgroundWindow ?? window;
        var self = Self;
        var log = _log;
        ChannelSource.FromReader(_pending.Reader)
            .GroupedWithin(batchSize, window)
            .SelectAsync(1, async batch =>
            {
                var list = batch.ToList();
                var latest = list.GroupBy(u => u.View.Id).Select(g => g.MaxBy(u => u.View.Version)!.View).ToList();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await store.UpsertAsync(latest);
                        break;
                    }
                    catch (Exception ex) when (attempt < 8)
                    {
                        log.Warning(ex, "Read model batch of {Count} failed (attempt {Attempt}); retrying", latest.Count, attempt);
                        await Task.Delay(TimeSpan.FromMilliseconds(50 * Math.Pow(2, attempt)));
                    }
                    catch (Exception ex)
                    {
                        // The journal still has every event: the next change of each email rewrites its view.
                        log.Error(ex, "Read model batch of {Count} dropped after {Attempt} attempts", latest.Count, attempt);
                        break;
                    }
                }
                return list;
            })
            .RunForeach(done =>
            {
                foreach (var u in done)
                    if (u.ReplyTo is not null && u.Reply is not null) u.ReplyTo.Tell(u.Reply);
                self.Tell(new Written(done.Count));
            }, Context.Materializer());

        Receive<UpsertView>(u =>
        {
            if (u.ReplyTo is not null || _backgroundWindow <= window)
            {
                Enqueue(u);
                return;
            }
            if (!_background.TryGetValue(u.View.Id, out var held) || held.Version < u.View.Version)
                _background[u.View.Id] = u.View;
            if (_background.Count >= _batchSize) FlushBackgroundViews();
            else if (!Timers.IsTimerActive(FlushBackground.Instance))
                Timers.StartSingleTimer(FlushBackground.Instance, FlushBackground.Instance, _backgroundWindow);
        });
        Receive<FlushBackground>(_ => FlushBackgroundViews());
        Receive<Flush>(_ =>
        {
            FlushBackgroundViews();
            _flushWaiters.Add((_enqueued, Sender));
            AnswerFlushWaiters();
        });
        Receive<Written>(w =>
        {
            _written += w.Count;
            AnswerFlushWaiters();
        });
    }

    private void Enqueue(UpsertView u)
    {
        _pending.Writer.TryWrite(u);
        _enqueued++;
    }

    private void FlushBackgroundViews()
    {
        Timers.Cancel(FlushBackground.Instance);
        foreach (var view in _background.Values) Enqueue(new UpsertView(view));
        _background.Clear();
    }

    private void AnswerFlushWaiters()
    {
        _flushWaiters.RemoveAll(w =>
        {
            if (_written < w.Target) return false;
            w.ReplyTo.Tell(Flushed.Instance);
            return true;
        });
    }

    protected override void PostStop() => _pending.Writer.TryComplete();
}

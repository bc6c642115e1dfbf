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
public sealed class ReadModelWriterActor : ReceiveActor
{
    public const string Name = "read-model-writer";

    private readonly Channel<UpsertView> _pending = Channel.CreateUnbounded<UpsertView>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ReadModelWriterActor(IEmailReadStore store, int batchSize, TimeSpan window)
    {
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
            }, Context.Materializer());

        Receive<UpsertView>(u => _pending.Writer.TryWrite(u));
    }

    protected override void PostStop() => _pending.Writer.TryComplete();
}

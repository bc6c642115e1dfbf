using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Domain;
using AkkaMail.Sending;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Actors;

/// <summary>
/// Hands send jobs to the send queue through a stream with bounded parallelism, and tells the email actor
/// once the queue has the job durably (<see cref="EmailCommands.MarkDispatched"/>, never answered). A failed enqueue is retried
/// after a pause; a job that finds the buffer full is left to the dispatch sweep, which finds it in the journal.
/// </summary>
public sealed class DispatcherActor : ReceiveActor, IWithTimers
{
    public const string Name = "send-dispatcher";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Channel<DispatchJob> _buffer;
    private sealed record Enqueued(DispatchJob Job, Exception? Error);

    public ITimerScheduler Timers { get; set; } = null!;

    public DispatcherActor(ISendQueue queue, IActorRef emailManager, int bufferSize, int parallelism)
    {
        _buffer = Channel.CreateBounded<DispatchJob>(new BoundedChannelOptions(bufferSize) { SingleReader = true });
        var materializer = Context.Materializer();
        // The queue's publisher runs here, with the stream that feeds it: it stops and restarts with this actor.
        queue.RunStreams(materializer);
        var self = Self;
        ChannelSource.FromReader(_buffer.Reader)
            .SelectAsyncUnordered(parallelism, async job =>
            {
                try
                {
                    await queue.EnqueueAsync(job.Job, job.Delay);
                    return new Enqueued(job, null);
                }
                catch (Exception ex)
                {
                    return new Enqueued(job, ex);
                }
            })
            .RunForeach(r => self.Tell(r), materializer);

        Receive<DispatchJob>(job =>
        {
            if (!_buffer.Writer.TryWrite(job))
                _log.Warning("Email {EmailId}: dispatch buffer full; the sweep will dispatch attempt {Attempt}",
                    job.Job.EmailId, job.Job.Attempt);
        });
        Receive<Enqueued>(r =>
        {
            if (r.Error is null)
            {
                emailManager.Tell(new EmailCommands.MarkDispatched(r.Job.Job.EmailId, r.Job.Job.Attempt), ActorRefs.NoSender);
                return;
            }
            _log.Warning(r.Error, "Email {EmailId}: could not queue attempt {Attempt}; retrying in 1 s",
                r.Job.Job.EmailId, r.Job.Job.Attempt);
            Timers.StartSingleTimer(r.Job, r.Job, TimeSpan.FromSeconds(1));
        });
    }

    protected override void PostStop() => _buffer.Writer.TryComplete();
}

using Akka.Actor;
using Akka.Event;
using AkkaMail.Domain;
using AkkaMail.Erasure;
using AkkaMail.ReadModel;

namespace AkkaMail.Actors;

/// <summary>
/// Works on the pending erasure records (<see cref="IErasureStore"/>) on an interval: each email of a record is asked to
/// remove itself whole now (<see cref="EmailCommands.ApplyRetention"/> with <see cref="RetentionPolicy.EraseNow"/>: the
/// email decides, so an unsettled one is never cut off mid-send); one not settled is cancelled and asked again at the
/// next run. Then what lives outside the journal goes: the outbox files, the read model's views (once the read side
/// caught up, so that it does not write them back), the outbound webhook deliveries about them, the PostgreSQL journal's
/// last rows. The record's progress is stored
/// after each run, so a restart resumes where it stopped. One per deployment (a cluster singleton in cluster mode).
/// </summary>
public sealed class ErasureActor : ReceiveActor, IWithTimers
{
    public const string Name = "erasure";

    /// <summary>Runs now (unless a run is in progress); answered with <see cref="Ran"/> when it ends.</summary>
    public sealed record RunNow
    {
        public static readonly RunNow Instance = new();
    }

    /// <summary>What a run did: records completed, emails removed, emails still waiting to settle.</summary>
    public sealed record Ran(int Completed, int Erased, int Waiting, string? Error);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _waiting = new();
    private bool _running;

    public ITimerScheduler Timers { get; set; } = null!;

    public ErasureActor(IErasureStore records, IEmailReadStore views, IActorRef emailManager, TimeProvider clock, TimeSpan interval,
        TimeSpan askTimeout, Action<string>? removeOutboxFiles = null, Func<Task>? afterRemoval = null,
        Func<string, Task>? forgetRemoved = null, Func<Task>? readSideCaughtUp = null,
        OutboundWebhooks.IWebhookDeliveryStore? webhookDeliveries = null)
    {
        Receive<RunNow>(_ =>
        {
            if (!Sender.IsNobody()) _waiting.Add(Sender);
            if (_running) return;
            _running = true;
            var job = new Job(records, views, emailManager, clock, askTimeout, removeOutboxFiles, afterRemoval, forgetRemoved, readSideCaughtUp,
                webhookDeliveries);
            job.RunAsync().ContinueWith(t => t.IsCompletedSuccessfully
                ? t.Result
                : job.Partial(t.Exception?.GetBaseException().Message ?? "cancelled")).PipeTo(Self);
        });
        Receive<Ran>(r =>
        {
            _running = false;
            if (r.Error is not null) _log.Warning("Erasure run stopped: {Error}; next run in {Interval}", r.Error, interval);
            else if (r.Erased + r.Completed > 0)
                _log.Info("Erasure run: {Erased} emails removed, {Completed} requests completed, {Waiting} emails waiting to settle",
                    r.Erased, r.Completed, r.Waiting);
            foreach (var w in _waiting) w.Tell(r);
            _waiting.Clear();
        });
        // Pending erasures resume after a restart: the first run comes one interval after the start.
        Timers.StartPeriodicTimer("erasure", RunNow.Instance, interval, interval);
    }

    private sealed class Job(IErasureStore records, IEmailReadStore views, IActorRef manager, TimeProvider clock, TimeSpan askTimeout,
        Action<string>? removeOutboxFiles, Func<Task>? afterRemoval, Func<string, Task>? forgetRemoved, Func<Task>? readSideCaughtUp,
        OutboundWebhooks.IWebhookDeliveryStore? webhookDeliveries)
    {
        private int _completed, _erased, _waiting;

        public Ran Partial(string error) => new(_completed, _erased, _waiting, error);

        public async Task<Ran> RunAsync()
        {
            foreach (var record in await records.ListPendingAsync(100))
                await RunAsync(record);
            return new Ran(_completed, _erased, _waiting, null);
        }

        private async Task RunAsync(ErasureRecord record)
        {
            var gone = new List<string>();
            var remaining = new List<string>();
            foreach (var chunk in record.Pending.Chunk(100))
            {
                var replies = await Task.WhenAll(chunk.Select(AskAsync));
                for (var i = 0; i < chunk.Length; i++)
                {
                    switch (replies[i])
                    {
                        // Removed now, or nothing behind the view (retention or an earlier run removed it).
                        case { Step: RetentionStep.RemoveEmail } or { Step: RetentionStep.Keep, UserId: null }:
                            gone.Add(chunk[i]);
                            break;
                        // Not settled: cancelled if it still can be (else its send ends on its own); asked again next run.
                        case { Step: RetentionStep.Keep }:
                            await CancelAsync(chunk[i]);
                            remaining.Add(chunk[i]);
                            break;
                        default: // no answer in time: asked again next run
                            remaining.Add(chunk[i]);
                            break;
                    }
                }
            }
            if (gone.Count > 0)
            {
                foreach (var id in gone)
                {
                    removeOutboxFiles?.Invoke(id);
                    if (forgetRemoved is not null) await forgetRemoved(id);
                }
                // The read side may still hold events of these emails it has not stored: a view it stored after the
                // delete would bring the address back.
                if (readSideCaughtUp is not null) await readSideCaughtUp();
                await views.DeleteAsync(gone);
                // The outbound webhook log's payloads name the addresses too.
                if (webhookDeliveries is not null) await webhookDeliveries.DeleteForEmailsAsync(gone);
                if (afterRemoval is not null) await afterRemoval();
            }
            _erased += gone.Count;
            _waiting += remaining.Count;
            var done = remaining.Count == 0;
            if (done) _completed++;
            await records.SaveAsync(record with
            {
                Erased = record.Erased + gone.Count,
                Pending = remaining,
                CompletedAt = done ? clock.GetUtcNow() : null,
            });
        }

        private async Task<EmailReplies.RetentionApplied?> AskAsync(string emailId)
        {
            try { return await manager.Ask<EmailReplies.RetentionApplied>(new EmailCommands.ApplyRetention(emailId, RetentionPolicy.EraseNow), askTimeout); }
            catch (Exception) { return null; }
        }

        private async Task CancelAsync(string emailId)
        {
            try { await manager.Ask<EmailReplies.CancelReply>(new EmailCommands.CancelEmail(emailId), askTimeout); }
            catch (Exception) { /* asked again with the email next run */ }
        }
    }
}

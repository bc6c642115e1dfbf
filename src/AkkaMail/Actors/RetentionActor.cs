using Akka.Actor;
using Akka.Event;
using AkkaMail.Domain;
using AkkaMail.ReadModel;

namespace AkkaMail.Actors;

/// <summary>What one run of the retention job did.</summary>
public sealed record RetentionRun(
    DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, int Checked, int BodiesRemoved, int EmailsRemoved, string? Error);

/// <summary>The retention job's last run, for readiness details and metrics (null before the first).</summary>
public sealed class RetentionProgress
{
    private volatile RetentionRun? _last;
    private long _bodiesRemoved, _emailsRemoved;

    public RetentionRun? LastRun => _last;
    public long BodiesRemovedTotal => Interlocked.Read(ref _bodiesRemoved);
    public long EmailsRemovedTotal => Interlocked.Read(ref _emailsRemoved);

    public void Record(RetentionRun run)
    {
        _last = run;
        Interlocked.Add(ref _bodiesRemoved, run.BodiesRemoved);
        Interlocked.Add(ref _emailsRemoved, run.EmailsRemoved);
    }
}

/// <summary>
/// The retention job: on an interval, asks every settled email old enough for a policy to apply it
/// (<see cref="EmailCommands.ApplyRetention"/>; the email decides, so an unsettled one is never touched), then removes
/// what lives outside the journal: the read model's view of a removed email, the outbox files of both. One per
/// deployment (a cluster singleton in cluster mode). Idempotent: a run that fails part way is simply run again.
/// </summary>
/// <remarks>Envelopes: every settled email whose view says it settled before the envelope cutoff (removed ones leave
/// the index). Bodies: only the emails settled since the last run's cutoff (<see cref="WatermarkName"/>, stored with the
/// projections' offsets), so a run costs what settled since the previous one, not the whole read model.</remarks>
public sealed class RetentionActor : ReceiveActor, IWithTimers
{
    public const string Name = "retention";

    /// <summary>The name under which the bodies pass stores how far it got (settled time, Unix ms) with the projections'
    /// offsets.</summary>
    public const string WatermarkName = "retention-bodies";

    /// <summary>Starts a run now (unless one is running); answered with <see cref="RetentionRun"/> when it ends.</summary>
    public sealed record RunNow
    {
        public static readonly RunNow Instance = new();
    }

    private sealed record Finished(RetentionRun Run);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _waiting = new();
    private bool _running;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="removeOutboxFiles">Removes an email's files from the sandbox outbox (null: no outbox).</param>
    /// <param name="afterRemoval">Run after a run that removed something (SQLite: checkpoints the files, so the deleted
    /// bytes leave them).</param>
    /// <param name="forgetRemoved">Run for each email removed whole, after its actor deleted its events (PostgreSQL: the
    /// row the journal plugin keeps to remember the sequence number goes too).</param>
    /// <param name="markBodiesRemoved">Marks the read model's rows of emails whose bodies are gone from the journal (the
    /// storage figures): no event tells the projection. Before the watermark passes them, so a crash in between marks them
    /// at the next run (their actors then answer "nothing to do", which in the bodies pass means "already removed").</param>
    public RetentionActor(RetentionPolicy policy, IEmailReadStore store, IEmailProjectionStore offsets, IActorRef emailManager,
        TimeProvider clock, TimeSpan interval, int batchSize, TimeSpan askTimeout, RetentionProgress progress,
        Action<string>? removeOutboxFiles = null, Func<Task>? afterRemoval = null, Func<string, Task>? forgetRemoved = null,
        Func<IReadOnlyCollection<string>, DateTimeOffset, Task>? markBodiesRemoved = null)
    {
        Receive<RunNow>(_ =>
        {
            if (!Sender.IsNobody()) _waiting.Add(Sender);
            if (_running) return;
            _running = true;
            var job = new Job(policy, store, offsets, emailManager, clock, batchSize, askTimeout, removeOutboxFiles, afterRemoval, forgetRemoved,
                markBodiesRemoved);
            var startedAt = clock.GetUtcNow();
            job.RunAsync().ContinueWith(t => new Finished(t.IsCompletedSuccessfully
                ? t.Result
                : job.Partial(startedAt, clock.GetUtcNow(), t.Exception?.GetBaseException().Message ?? "cancelled"))).PipeTo(Self);
        });
        Receive<Finished>(f =>
        {
            _running = false;
            progress.Record(f.Run);
            if (f.Run.Error is not null)
                _log.Warning("Retention run stopped after {Checked} emails: {Error}; next run in {Interval}", f.Run.Checked, f.Run.Error, interval);
            else if (f.Run.BodiesRemoved + f.Run.EmailsRemoved > 0)
                _log.Info("Retention run: {Checked} emails checked, bodies of {Bodies} removed, {Emails} emails removed",
                    f.Run.Checked, f.Run.BodiesRemoved, f.Run.EmailsRemoved);
            foreach (var w in _waiting) w.Tell(f.Run);
            _waiting.Clear();
        });
        if (policy.RemovesBodies || policy.RemovesEnvelopes)
            Timers.StartPeriodicTimer("retention", RunNow.Instance, interval, interval);
    }

    private sealed class Job(RetentionPolicy policy, IEmailReadStore store, IEmailProjectionStore offsets, IActorRef manager,
        TimeProvider clock, int batchSize, TimeSpan askTimeout, Action<string>? removeOutboxFiles, Func<Task>? afterRemoval,
        Func<string, Task>? forgetRemoved, Func<IReadOnlyCollection<string>, DateTimeOffset, Task>? markBodiesRemoved)
    {
        private int _checked, _bodies, _emails;
        // Views of emails an earlier run removed from the journal but was stopped (a crash) before it removed the views:
        // deleting them now deletes bytes too, so the run must end with afterRemoval (SQLite: the checkpoint that takes
        // the deleted bytes out of the files) even when it removed nothing else.
        private int _orphans;

        public RetentionRun Partial(DateTimeOffset startedAt, DateTimeOffset at, string error) =>
            new(startedAt, at, _checked, _bodies, _emails, error);

        public async Task<RetentionRun> RunAsync()
        {
            var startedAt = clock.GetUtcNow();
            if (policy.RemovesEnvelopes)
            {
                var cutoff = startedAt - policy.KeepEnvelopes;
                var after = SettledPosition.Start;
                while (true)
                {
                    var page = await store.FindSettledAsync(after, cutoff, batchSize);
                    await ApplyAsync(page, bodiesPass: false);
                    if (page.Count < batchSize) break;
                    after = page[^1];
                }
            }
            if (policy.RemovesBodies)
            {
                var cutoff = startedAt - policy.KeepBodies;
                var watermark = await offsets.LoadOffsetAsync(WatermarkName);
                // The rows at the watermark's own millisecond come again: asking twice is harmless, missing one is not.
                var after = new SettledPosition(watermark, "");
                while (true)
                {
                    var page = await store.FindSettledAsync(after, cutoff, batchSize);
                    await ApplyAsync(page, bodiesPass: true);
                    if (page.Count > 0)
                        await offsets.StoreAsync(WatermarkName, Array.Empty<EmailView>(), Array.Empty<ProjectedSuppression>(),
                            page[^1].SettledAtMs);
                    if (page.Count < batchSize) break;
                    after = page[^1];
                }
            }
            if (_bodies + _emails + _orphans > 0 && afterRemoval is not null) await afterRemoval();
            return new RetentionRun(startedAt, clock.GetUtcNow(), _checked, _bodies, _emails, null);
        }

        /// <summary>Asks each email to apply the policy; a failure stops the run before the watermark passes it.</summary>
        private async Task ApplyAsync(IReadOnlyList<SettledPosition> page, bool bodiesPass)
        {
            if (page.Count == 0) return;
            var replies = await Task.WhenAll(page.Select(p =>
                manager.Ask<EmailReplies.RetentionApplied>(new EmailCommands.ApplyRetention(p.Id, policy), askTimeout)));
            _checked += replies.Length;
            var gone = new List<string>();
            var stripped = new List<string>();
            foreach (var r in replies)
            {
                switch (r.Step)
                {
                    case RetentionStep.RemoveBodies:
                        _bodies++;
                        removeOutboxFiles?.Invoke(r.EmailId);
                        stripped.Add(r.EmailId);
                        break;
                    // Settled before the bodies' cutoff and nothing to do: its bodies were removed already (perhaps by a run
                    // that stopped before marking it).
                    case RetentionStep.Keep when bodiesPass && r.UserId is not null:
                        stripped.Add(r.EmailId);
                        break;
                    case RetentionStep.RemoveEmail:
                        _emails++;
                        removeOutboxFiles?.Invoke(r.EmailId);
                        gone.Add(r.EmailId);
                        break;
                    // No email behind the view (removed by an earlier run that failed before it removed the view).
                    case RetentionStep.Keep when r.UserId is null:
                        _orphans++;
                        removeOutboxFiles?.Invoke(r.EmailId);
                        gone.Add(r.EmailId);
                        break;
                }
            }
            if (forgetRemoved is not null)
                foreach (var id in gone) await forgetRemoved(id);
            await store.DeleteAsync(gone);
            if (markBodiesRemoved is not null && stripped.Count > 0) await markBodiesRemoved(stripped, clock.GetUtcNow());
        }
    }
}

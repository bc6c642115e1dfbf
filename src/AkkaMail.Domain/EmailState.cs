using System.Collections.Immutable;
using static AkkaMail.Domain.EmailEvents;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Domain;

/// <summary>Where the email is on its way to the provider.</summary>
public enum SendPhase { None, Scheduled, Queued, Sending, RetryWaiting, Sent, SendFailed, Cancelled }

public sealed record Engagement(string Kind, DateTimeOffset At, string EventId, string? Url = null);

public sealed record RecipientState(
    string Address,
    RecipientStatus Status,
    DateTimeOffset? StatusAt = null,
    string? StatusEventId = null,
    string? Reason = null,
    int? Code = null,
    bool Complained = false,
    bool Unsubscribed = false)
{
    /// <summary>Opens and clicks, kept sorted by (time, event id) so arrival order does not matter.</summary>
    public ImmutableList<Engagement> Engagements { get; init; } = ImmutableList<Engagement>.Empty;

    public int Opens => Engagements.Count(e => e.Kind == "opened");
    public int Clicks => Engagements.Count(e => e.Kind == "clicked");
}

/// <param name="Provider">The provider a step went through or a report came from; null where none is known (our own
/// steps before the provider, and everything recorded before providers were recorded).</param>
public sealed record TimelineEntry(DateTimeOffset At, string Type, string? Recipient = null, string? Detail = null, string? Provider = null);

/// <summary>
/// What a command decided: the events to persist, the reply (null: the command is never answered), and the effects
/// the actor carries out once the events are persisted. The actor interprets a decision; it decides nothing itself.
/// </summary>
public sealed record Decision(IReadOnlyList<IEmailEvent> Events, object? Reply, IReadOnlyList<EmailEffect> Effects)
{
    public Decision(IReadOnlyList<IEmailEvent> events, object? reply) : this(events, reply, Array.Empty<EmailEffect>()) { }

    public static Decision Only(object? reply) => new(Array.Empty<IEmailEvent>(), reply);

    public static readonly Decision Nothing = Only(null);

    public Decision With(EmailEffect effect) => this with { Effects = Effects.Append(effect).ToArray() };
}

/// <summary>
/// One email's state and its transitions, as pure functions: <see cref="Decide"/> turns a command into events
/// and a reply; <see cref="Apply"/> folds an event into the state. No I/O, no clock, no Akka.
/// </summary>
public sealed record EmailState
{
    public string EmailId { get; init; } = "";
    public string? UserId { get; init; }
    public EmailContent? Content { get; init; }
    public DateTimeOffset? AcceptedAt { get; init; }
    public DateTimeOffset? SendAt { get; init; }
    public string? IdempotencyKey { get; init; }
    public string? RequestFingerprint { get; init; }
    /// <summary>The template the content was rendered from (null: content given as it is).</summary>
    public TemplateUse? Template { get; init; }

    public SendPhase Phase { get; init; } = SendPhase.None;
    /// <summary>The attempt in progress or next to be made (1-based); 0 before acceptance.</summary>
    public int Attempt { get; init; }
    /// <summary>True once the job for <see cref="Attempt"/> is durably queued.</summary>
    public bool Dispatched { get; init; }
    public DateTimeOffset? DispatchedAt { get; init; }
    public DateTimeOffset? NextAttemptAt { get; init; }
    public DateTimeOffset? AttemptStartedAt { get; init; }
    public string? ProviderMessageId { get; init; }
    /// <summary>The provider the message went out through (null: not recorded, or not sent yet).</summary>
    public string? Provider { get; init; }
    public string? FailureReason { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
    /// <summary>When nothing more was to be sent (sent, failed or cancelled): the retention policies count from here.
    /// Null while unsettled, and in snapshots written before it existed (<see cref="RetentionPolicy"/> then counts from
    /// <see cref="UpdatedAt"/>, which is never earlier).</summary>
    public DateTimeOffset? SettledAt { get; init; }
    /// <summary>When the journal's copy of the bodies was removed (a storage fact, not an event: the actor sets it on the
    /// compaction snapshot that replaces the events holding them, so the snapshot tells it the work is done).</summary>
    public DateTimeOffset? BodiesRemovedAt { get; init; }
    /// <summary>The size of the bodies as accepted (<see cref="EmailContent.BodyBytes"/>), kept when the state drops them on
    /// settling: what the journal holds of them until <see cref="BodiesRemovedAt"/>. 0 in snapshots written before it existed.</summary>
    public long BodyBytes { get; init; }
    /// <summary>When the timeline was marked "no report from provider" (<see cref="ProviderReportMissing"/>): null until then,
    /// and in snapshots written before it existed. Set once: the reconciliation job stops asking about this email.</summary>
    public DateTimeOffset? NoProviderReportAt { get; init; }

    /// <summary>By address, always in ordinal order: whoever builds the dictionary (a snapshot's deserializer
    /// uses the culture-sensitive default), the order of recipients never depends on the machine.</summary>
    public ImmutableSortedDictionary<string, RecipientState> Recipients
    {
        get => _recipients;
        init => _recipients = value.WithComparers(StringComparer.Ordinal);
    }
    private readonly ImmutableSortedDictionary<string, RecipientState> _recipients =
        ImmutableSortedDictionary<string, RecipientState>.Empty.WithComparers(StringComparer.Ordinal);
    public ImmutableHashSet<string> SeenProviderEvents { get; init; } = ImmutableHashSet<string>.Empty;
    public ImmutableList<TimelineEntry> Timeline { get; init; } = ImmutableList<TimelineEntry>.Empty;
    /// <summary>Number of events applied: the read model's version guard.</summary>
    public long Version { get; init; }

    public bool Exists => Phase != SendPhase.None;

    /// <summary>Nothing more will be sent: sent, failed or cancelled. Only a settled email is ever subject to retention.</summary>
    public bool IsSettled => Phase is SendPhase.Sent or SendPhase.SendFailed or SendPhase.Cancelled;

    public static EmailState Empty(string emailId) => new() { EmailId = emailId };

    /// <summary>
    /// The aggregate status. Before the provider has the message it follows the send phase
    /// (scheduled, queued, sending, retrying; cancelled; failed when the provider refused or attempts ran out).
    /// After that it is derived from the recipients: failed if every recipient failed permanently;
    /// partially_failed if every recipient is final and some failed; delivered if every recipient was delivered,
    /// raised to opened / clicked when any recipient opened / clicked; otherwise sent.
    /// </summary>
    public EmailStatus Status
    {
        get
        {
            if (Phase == SendPhase.Cancelled) return EmailStatus.Cancelled;
            if (Phase == SendPhase.SendFailed) return EmailStatus.Failed;
            var recipients = RecipientSummary.Of(Recipients);
            if (Phase != SendPhase.Sent && !recipients.AnyHeardOf)
            {
                return Phase switch
                {
                    SendPhase.Scheduled => EmailStatus.Scheduled,
                    SendPhase.Sending => EmailStatus.Sending,
                    SendPhase.RetryWaiting => EmailStatus.Retrying,
                    _ => EmailStatus.Queued,
                };
            }
            if (recipients.Count == 0) return EmailStatus.Sent;
            if (recipients.AllFailed) return EmailStatus.Failed;
            if (!recipients.AllDelivered) return EmailStatus.Sent;
            if (recipients.AnyFailed) return EmailStatus.PartiallyFailed;
            if (recipients.AnyClicked) return EmailStatus.Clicked;
            if (recipients.AnyOpened) return EmailStatus.Opened;
            return EmailStatus.Delivered;
        }
    }

    /// <summary>What the status needs to know of the recipients, in one pass without allocating (the status is read for
    /// every persisted event). Suppressed recipients count as failed: the message will never reach them; "delivered"
    /// means final and reached (delivered or later).</summary>
    private readonly record struct RecipientSummary(
        int Count, bool AnyHeardOf, bool AllFailed, bool AnyFailed, bool AllDelivered, bool AnyClicked, bool AnyOpened)
    {
        public static RecipientSummary Of(ImmutableSortedDictionary<string, RecipientState> recipients)
        {
            var summary = new RecipientSummary(0, false, true, false, true, false, false);
            foreach (var (_, r) in recipients)
            {
                var failed = r.Status is RecipientStatus.Failed or RecipientStatus.Suppressed;
                summary = summary with
                {
                    Count = summary.Count + 1,
                    AnyHeardOf = summary.AnyHeardOf || r.Status is > RecipientStatus.Pending and not RecipientStatus.Suppressed || !r.Engagements.IsEmpty,
                    AllFailed = summary.AllFailed && failed,
                    AnyFailed = summary.AnyFailed || failed,
                    AllDelivered = summary.AllDelivered && r.Status >= RecipientStatus.Delivered,
                    AnyClicked = summary.AnyClicked || r.Clicks > 0,
                    AnyOpened = summary.AnyOpened || r.Opens > 0,
                };
            }
            return summary;
        }
    }

    /// <summary>Before the provider has it: the only window in which cancel is allowed.</summary>
    public bool IsCancellable => Phase is SendPhase.Queued or SendPhase.Scheduled or SendPhase.RetryWaiting;

    // ---------------------------------------------------------------- decide

    public Decision Decide(IEmailCommand command, DecisionContext ctx) => command switch
    {
        AcceptEmail c => DecideAccept(c, ctx),
        MarkDispatched c => DecideMarkDispatched(c, ctx),
        BeginSendAttempt c => DecideBegin(c, ctx),
        RecordSendOutcome c => DecideOutcome(c, ctx),
        ApplyProviderEvent c => DecideProviderEvent(c, ctx),
        CancelEmail c => DecideCancel(c, ctx),
        SweepDispatch c => DecideSweep(c, ctx),
        MarkNoProviderReport c => DecideNoProviderReport(c, ctx),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "not a decision command"),
    };

    private Decision DecideAccept(AcceptEmail c, DecisionContext ctx)
    {
        if (Exists)
        {
            // Same id again: with an idempotency key the id is derived from (user, key), so this is a retried POST.
            if (RequestFingerprint is not null && c.RequestFingerprint is not null && RequestFingerprint != c.RequestFingerprint)
                return Decision.Only(new R.IdempotencyConflict(EmailId));
            var existing = Decision.Only(new R.EmailAccepted(EmailId, Status, Existing: true));
            // Accepted but never handed to the queue (a crash between the persist and the dispatch): the retried POST
            // hands it over now rather than wait for the sweep.
            return Phase is SendPhase.Queued && !Dispatched
                ? existing.With(new EmailEffect.Dispatch(Attempt, DispatchDelay(ctx.Now)))
                : existing;
        }
        var evt = new EmailAccepted(c.EmailId, c.UserId, c.Content, ctx.Now, c.IdempotencyKey, c.RequestFingerprint, c.SendAt,
            c.Suppressed is { Count: > 0 } ? c.Suppressed.ToDictionary(kv => Addresses.Normalize(kv.Key), kv => kv.Value) : null,
            c.Template);
        var next = Apply(evt);
        var events = new List<IEmailEvent> { evt };
        if (next.Recipients.Values.All(r => r.Status == RecipientStatus.Suppressed))
        {
            var failed = new EmailSendFailed(c.EmailId, 0, "every recipient is on the suppression list", ctx.Now,
                SendFailureKind.AllRecipientsSuppressed);
            events.Add(failed);
            next = next.Apply(failed);
            // Nothing to send.
            return new Decision(events, new R.EmailAccepted(c.EmailId, next.Status, Existing: false));
        }
        return new Decision(events, new R.EmailAccepted(c.EmailId, next.Status, Existing: false))
            .With(new EmailEffect.Dispatch(next.Attempt, next.DispatchDelay(ctx.Now)));
    }

    private Decision DecideMarkDispatched(MarkDispatched c, DecisionContext ctx)
    {
        // Also when already dispatched: a job handed over again (by the sweep) restarts the pickup clock, or every
        // later sweep would queue yet another copy while the queue has a backlog.
        if (Phase is SendPhase.Queued or SendPhase.RetryWaiting or SendPhase.Scheduled && c.Attempt == Attempt)
            return new Decision(new IEmailEvent[] { new EmailDispatched(EmailId, c.Attempt, ctx.Now) }, null);
        return Decision.Nothing;
    }

    private Decision DecideBegin(BeginSendAttempt c, DecisionContext ctx)
    {
        if (!Exists) return Decision.Only(new R.SendDenied(c.EmailId, c.Attempt, DenialReason.Unknown));
        switch (Phase)
        {
            case SendPhase.Queued or SendPhase.RetryWaiting or SendPhase.Scheduled when c.Attempt == Attempt:
                if (SendAt is { } at && at > ctx.Now)
                    return Decision.Only(new R.SendDenied(EmailId, c.Attempt, new DenialReason.NotYetDue(at)));
                var evt = new SendAttemptStarted(EmailId, c.Attempt, ctx.Now);
                return new Decision(new IEmailEvent[] { evt }, Approved(c.Attempt));
            case SendPhase.Sending when c.Attempt == Attempt && ctx.Now - AttemptStartedAt > ctx.AttemptTimeout:
                // The attempt started long ago (longer than any provider call may take) and its outcome was never
                // recorded: the process died mid-call. The provider may or may not have it; we send again rather
                // than lose it. This is the only window in which a message can go out twice.
                return new Decision(new IEmailEvent[] { new SendAttemptStarted(EmailId, c.Attempt, ctx.Now) }, Approved(c.Attempt));
            case SendPhase.Sending when c.Attempt == Attempt:
                // A duplicate job while the attempt is in flight: drop it, never send twice.
                return Decision.Only(new R.SendDenied(EmailId, c.Attempt, DenialReason.InProgress));
            default:
                return Decision.Only(new R.SendDenied(EmailId, c.Attempt, new DenialReason.NotCurrent(Status, Attempt)));
        }
    }

    /// <summary>Approval carries the content to send: without suppressed recipients.</summary>
    private R.SendApproved Approved(int attempt)
    {
        var suppressed = Recipients.Values.Where(r => r.Status == RecipientStatus.Suppressed).Select(r => r.Address).ToHashSet();
        var content = suppressed.Count == 0 ? Content! : Content! with
        {
            To = Content.To.Where(a => !suppressed.Contains(Addresses.Normalize(a))).ToArray(),
            Cc = Content.Cc.Where(a => !suppressed.Contains(Addresses.Normalize(a))).ToArray(),
            Bcc = Content.Bcc.Where(a => !suppressed.Contains(Addresses.Normalize(a))).ToArray(),
        };
        return new(EmailId, attempt, content, Recipients.Values.Where(r => r.Status != RecipientStatus.Suppressed).Select(r => r.Address).ToArray());
    }

    private Decision DecideOutcome(RecordSendOutcome c, DecisionContext ctx)
    {
        if (Phase != SendPhase.Sending || c.Attempt != Attempt)
            return Decision.Only(new R.OutcomeRecorded(EmailId, R.NextStep.Ignored));
        switch (c.Outcome)
        {
            case SendOutcome.Sent s:
                return new Decision(new IEmailEvent[] { new EmailSent(EmailId, c.Attempt, s.ProviderMessageId, ctx.Now, s.Provider) },
                    new R.OutcomeRecorded(EmailId, R.NextStep.Done));
            case SendOutcome.Permanent p:
                return new Decision(new IEmailEvent[] { new EmailSendFailed(EmailId, c.Attempt, p.Reason, ctx.Now, SendFailureKind.ProviderRefused, p.Provider) },
                    new R.OutcomeRecorded(EmailId, R.NextStep.Done));
            case SendOutcome.Transient t when ctx.RetryPolicy.IsLastAttempt(c.Attempt):
                var reason = $"gave up after {c.Attempt} attempts: {t.Reason}";
                return new Decision(new IEmailEvent[] { new EmailSendFailed(EmailId, c.Attempt, reason, ctx.Now, SendFailureKind.AttemptsExhausted, t.Provider) },
                    new R.OutcomeRecorded(EmailId, R.NextStep.DeadLetter));
            case SendOutcome.Transient t when RetryDeadline(ctx.RetryPolicy) is { } deadline && ctx.Now >= deadline:
                var late = $"gave up after {c.Attempt} attempts, the retry deadline ({ctx.RetryPolicy.Deadline}) passed: {t.Reason}";
                return new Decision(new IEmailEvent[] { new EmailSendFailed(EmailId, c.Attempt, late, ctx.Now, SendFailureKind.DeadlinePassed, t.Provider) },
                    new R.OutcomeRecorded(EmailId, R.NextStep.DeadLetter));
            case SendOutcome.Transient t:
                var delay = ctx.RetryPolicy.BackoffBefore(c.Attempt + 1, ctx.Random01, t.RetryAfter);
                // The last retry is made at the deadline, not skipped because the backoff would overshoot it.
                if (RetryDeadline(ctx.RetryPolicy) is { } until && ctx.Now + delay > until) delay = until - ctx.Now;
                var evt = new SendRetryScheduled(EmailId, c.Attempt, t.Reason, ctx.Now + delay, ctx.Now, t.Provider);
                return new Decision(new IEmailEvent[] { evt },
                    new R.OutcomeRecorded(EmailId, R.NextStep.Retry, c.Attempt + 1, delay))
                    .With(new EmailEffect.Dispatch(c.Attempt + 1, delay));
            default:
                throw new ArgumentOutOfRangeException(nameof(c), c.Outcome.GetType().Name, "unknown outcome");
        }
    }

    /// <summary>When retries stop: the policy's deadline after the email was due (accepted, or its later sendAt).</summary>
    private DateTimeOffset? RetryDeadline(RetryPolicy policy)
    {
        if (policy.Deadline is not { } d || d <= TimeSpan.Zero || AcceptedAt is not { } accepted) return null;
        var dueSince = SendAt is { } at && at > accepted ? at : accepted;
        return dueSince + d;
    }

    private Decision DecideProviderEvent(ApplyProviderEvent c, DecisionContext ctx)
    {
        if (!Exists) return Decision.Only(new R.ProviderEventApplied(c.EmailId, R.ProviderEventResult.UnknownEmail));
        // A report is about the message its provider sent: after a failover, the provider that failed (or accepted the
        // attempt that timed out) has no say about the message another provider carried (checked before the
        // message id, which is the other provider's, so that such a report is ignored, not refused as altered).
        if (!FromOurProvider(c.Event))
            return Decision.Only(new R.ProviderEventApplied(EmailId, R.ProviderEventResult.OtherProvider));
        // A webhook may be routed by the email id it carries (Mailgun's user-variables), and Mailgun signs only the
        // timestamp and token, not the event: an altered body could name any email whose id is known. When both the
        // event and the email know the provider's message id, they must agree.
        if (ProviderMessageId is { } ours && c.Event.ProviderMessageId is { } theirs && !SameMessageId(ours, theirs))
            return Decision.Only(new R.ProviderEventApplied(EmailId, R.ProviderEventResult.MessageIdMismatch));
        if (SeenProviderEvents.Contains(c.Event.EventId))
            return Decision.Only(new R.ProviderEventApplied(EmailId, R.ProviderEventResult.Duplicate));
        return new Decision(new IEmailEvent[] { new ProviderEventRecorded(EmailId, c.Event, ctx.Now) },
            new R.ProviderEventApplied(EmailId, R.ProviderEventResult.Applied));
    }

    /// <summary>Whether a provider's report may concern this email's message: yes when either side does not know its
    /// provider (journals and reports from before providers were recorded, or a report racing our record of the send).</summary>
    public bool FromOurProvider(ProviderEvent e) =>
        Provider is null || e.Provider is null || string.Equals(Provider, e.Provider, StringComparison.OrdinalIgnoreCase);

    /// <summary>Message ids compared without the angle brackets the send response has and webhooks do not.</summary>
    public static bool SameMessageId(string a, string b) =>
        a.AsSpan().Trim().Trim("<>").Equals(b.AsSpan().Trim().Trim("<>"), StringComparison.OrdinalIgnoreCase);

    /// <summary>Recipients the provider has not yet given a final fate (delivered, failed; suppressed ones never went out).
    /// A method, not a property: snapshots serialize the state's properties.</summary>
    public IReadOnlyList<string> RecipientsAwaitingReport() =>
        Recipients.Values.Where(r => r.Status < RecipientStatus.Delivered).Select(r => r.Address).ToArray();

    /// <summary>Whether the provider's reports are still awaited for this email: it went out through a known provider, some
    /// recipient has no final fate, and it was not yet marked as having had no report. The reconciliation job's index.</summary>
    public bool AwaitsProviderReport =>
        Phase == SendPhase.Sent && Provider is not null && NoProviderReportAt is null
        && Recipients.Values.Any(r => r.Status < RecipientStatus.Delivered);

    /// <summary>"No report from provider" is recorded once, only for an email that went out through that very provider,
    /// only once the provider's event retention has passed since the send (before it, a report may still come and the job
    /// asks again), and only for the recipients still without a final fate.</summary>
    private Decision DecideNoProviderReport(MarkNoProviderReport c, DecisionContext ctx)
    {
        var notMarked = Decision.Only(new R.NoProviderReportMarked(c.EmailId, false));
        if (!AwaitsProviderReport || !string.Equals(Provider, c.Provider, StringComparison.OrdinalIgnoreCase)) return notMarked;
        // Snapshots from before SettledAt existed: the last change is never earlier than the send.
        if ((SettledAt ?? UpdatedAt) is not { } sentAt || ctx.Now - sentAt < c.Retention) return notMarked;
        var evt = new ProviderReportMissing(EmailId, Provider!, RecipientsAwaitingReport(), c.Retention, ctx.Now);
        return new Decision(new IEmailEvent[] { evt }, new R.NoProviderReportMarked(EmailId, true));
    }

    private Decision DecideCancel(CancelEmail c, DecisionContext ctx)
    {
        if (!Exists) return Decision.Only(new R.UnknownEmail(c.EmailId));
        if (Phase == SendPhase.Cancelled) return Decision.Only(new R.Cancelled(EmailId));
        if (!IsCancellable) return Decision.Only(new R.CannotCancel(EmailId, Status));
        return new Decision(new IEmailEvent[] { new EmailCancelled(EmailId, ctx.Now) }, new R.Cancelled(EmailId));
    }

    /// <summary>
    /// The sweep's decision. <paramref name="handedOverAt"/>: when the email's actor last handed the job of the current
    /// attempt to the dispatcher (kept in its memory, never persisted). A hand-over whose publish is not yet confirmed
    /// (the broker is down, the dispatcher retries) is in progress, not lost: it is not due again until the pickup
    /// timeout has passed since it, or every sweep of an outage would queue another copy.
    /// </summary>
    public Decision DecideSweep(SweepDispatch c, DecisionContext ctx, DateTimeOffset? handedOverAt)
    {
        if (Phase is SendPhase.Queued or SendPhase.Scheduled or SendPhase.RetryWaiting
            && handedOverAt is { } handedOver && ctx.Now - handedOver < c.PickupTimeout)
            return Decision.Nothing;
        return DecideSweep(c, ctx);
    }

    private Decision DecideSweep(SweepDispatch c, DecisionContext ctx)
    {
        // A dispatched job becomes visible to the sender when it was (last) queued or when it falls due, whichever
        // is later; it is lost if nobody picked it up within the timeout from then.
        DateTimeOffset? dueAt = Phase switch
        {
            SendPhase.Scheduled => SendAt,
            SendPhase.RetryWaiting => NextAttemptAt,
            _ => null,
        };
        var visibleSince = dueAt is { } d && (DispatchedAt is null || d > DispatchedAt) ? d : DispatchedAt;
        var due = Phase switch
        {
            SendPhase.Queued or SendPhase.Scheduled or SendPhase.RetryWaiting =>
                !Dispatched || visibleSince is null || ctx.Now - visibleSince > c.PickupTimeout
                || (c.LostIfDispatchedBefore is { } lost && DispatchedAt < lost),
            // Started but never finished (a crash mid-call): hand it over again after the timeout.
            SendPhase.Sending => ctx.Now - AttemptStartedAt > ctx.AttemptTimeout,
            _ => false,
        };
        return due ? Decision.Nothing.With(new EmailEffect.Dispatch(Attempt, DispatchDelay(ctx.Now))) : Decision.Nothing;
    }

    /// <summary>
    /// Whether a queued job for <paramref name="attempt"/> is redundant: <see cref="BeginSendAttempt"/> would deny it
    /// for good (no such email; sent, failed or cancelled; another attempt is current; this one is in flight). A job
    /// that is only early (scheduled for later) is not redundant. Pure and free of events: the sender asks it before
    /// the provider's rate limit, so a redundant job costs no send token.
    /// </summary>
    public bool IsRedundantJob(int attempt, DecisionContext ctx) => !Exists || attempt != Attempt || Phase switch
    {
        SendPhase.Queued or SendPhase.RetryWaiting or SendPhase.Scheduled => false,
        SendPhase.Sending => !(ctx.Now - AttemptStartedAt > ctx.AttemptTimeout),
        _ => true,
    };

    /// <summary>How long the job for the current attempt should wait in the queue before it may be sent.</summary>
    public TimeSpan DispatchDelay(DateTimeOffset now)
    {
        var at = Phase == SendPhase.RetryWaiting ? NextAttemptAt : SendAt;
        return at is { } t && t > now ? t - now : TimeSpan.Zero;
    }

    // ---------------------------------------------------------------- apply

    public EmailState Apply(IEmailEvent evt)
    {
        var next = evt switch
        {
            EmailAccepted e => this with
            {
                UserId = e.UserId,
                Content = e.Content,
                BodyBytes = e.Content.BodyBytes(),
                AcceptedAt = e.At,
                SendAt = e.SendAt,
                IdempotencyKey = e.IdempotencyKey,
                RequestFingerprint = e.RequestFingerprint,
                Template = e.Template,
                Phase = e.SendAt is not null ? SendPhase.Scheduled : SendPhase.Queued,
                Attempt = 1,
                Recipients = Recipients.SetItems(e.Content.AllRecipients()
                    .Select(a => KeyValuePair.Create(a, e.Suppressed is not null && e.Suppressed.TryGetValue(a, out var why)
                        ? new RecipientState(a, RecipientStatus.Suppressed, e.At, Reason: why)
                        : new RecipientState(a, RecipientStatus.Pending)))),
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Of(e),
                    Detail: e.SendAt?.ToString("O"))),
            },
            EmailDispatched e => this with
            {
                Dispatched = true,
                DispatchedAt = e.At,
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Dispatched, Detail: $"attempt {e.Attempt}")),
            },
            SendAttemptStarted e => this with
            {
                Phase = SendPhase.Sending,
                Attempt = e.Attempt,
                AttemptStartedAt = e.At,
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Sending, Detail: $"attempt {e.Attempt}")),
            },
            EmailSent e => this with
            {
                Phase = SendPhase.Sent,
                SettledAt = SettledAt ?? e.At,
                Content = WithoutBodies(Content),
                ProviderMessageId = e.ProviderMessageId,
                Provider = e.Provider,
                Recipients = Recipients,
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Sent, Detail: e.ProviderMessageId, Provider: e.Provider)),
            },
            SendRetryScheduled e => this with
            {
                Phase = SendPhase.RetryWaiting,
                Attempt = e.Attempt + 1,
                Dispatched = false,
                DispatchedAt = null,
                NextAttemptAt = e.NextAttemptAt,
                FailureReason = e.Reason,
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.RetryScheduled, Detail:
                    $"attempt {e.Attempt} failed: {e.Reason}; next at {e.NextAttemptAt:O}", Provider: e.Provider)),
            },
            EmailSendFailed e => this with
            {
                Phase = SendPhase.SendFailed,
                SettledAt = SettledAt ?? e.At,
                Content = WithoutBodies(Content),
                FailureReason = e.Reason,
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Failed, Detail: e.Reason, Provider: e.Provider)),
            },
            EmailCancelled e => this with
            {
                Phase = SendPhase.Cancelled,
                SettledAt = SettledAt ?? e.At,
                Content = WithoutBodies(Content),
                Timeline = Timeline.Add(new TimelineEntry(e.At, EmailEventTypes.Cancelled)),
            },
            ProviderEventRecorded e => ApplyProviderEvent(e.Event),
            ProviderReportMissing e => this with
            {
                NoProviderReportAt = NoProviderReportAt ?? e.At,
                Timeline = Timeline.AddRange(e.Recipients.Select(r => new TimelineEntry(e.At, EmailEventTypes.NoReportFromProvider, r,
                    $"no report from provider within its event retention ({FormatRetention(e.Retention)})", e.Provider))),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(evt), evt.GetType().Name, "unknown event"),
        };
        return next with { Version = Version + 1, UpdatedAt = evt.At };
    }

    private static string FormatRetention(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays == Math.Floor(t.TotalDays) ? $"{t.TotalDays:0}d"
        : t.TotalHours >= 1 && t.TotalHours == Math.Floor(t.TotalHours) ? $"{t.TotalHours:0}h"
        : t.ToString();

    /// <summary>
    /// The content once nothing more will be sent: the envelope (addresses, subject, tags, headers) stays, the
    /// bodies, attachments and a batch's recipient variables go. They are in the journal's <see cref="EmailAccepted"/>; kept in every live email
    /// actor they were most of its memory (real bodies are tens of KB) for as long as the email stays live.
    /// </summary>
    private static EmailContent? WithoutBodies(EmailContent? content) =>
        content is null || (content.Text is null && content.Html is null && content.Attachments.Count == 0 && content.RecipientVariables is null)
            ? content
            : content with { Text = null, Html = null, Attachments = Array.Empty<EmailAttachment>(), RecipientVariables = null };

    private EmailState ApplyProviderEvent(ProviderEvent pe)
    {
        var address = Addresses.Normalize(pe.Recipient);
        var r = Recipients.TryGetValue(address, out var existing) ? existing : new RecipientState(address, RecipientStatus.Pending);
        r = ApplyToRecipient(r, pe);
        var detail = pe.Kind switch
        {
            ProviderEventKind.Clicked => pe.Url,
            ProviderEventKind.TemporaryFailure or ProviderEventKind.PermanentFailure =>
                string.Join(" ", new[] { pe.Code?.ToString(), pe.Reason, pe.Description }.Where(s => !string.IsNullOrEmpty(s))),
            _ => null,
        };
        return this with
        {
            Recipients = Recipients.SetItem(address, r),
            SeenProviderEvents = SeenProviderEvents.Add(pe.EventId),
            // A provider event can race our own record of the send: its message id is as good as ours.
            ProviderMessageId = ProviderMessageId ?? pe.ProviderMessageId,
            Timeline = Timeline.Add(new TimelineEntry(pe.OccurredAt, EmailEventTypes.Of(pe.Kind), address, detail, pe.Provider)),
        };
    }

    /// <summary>
    /// Folds one provider event into a recipient so that the result does not depend on arrival order:
    /// delivery fate takes the highest rank (ties: the later event by time, then id); engagement is a sorted set;
    /// complaint and unsubscribe are sticky flags.
    /// </summary>
    public static RecipientState ApplyToRecipient(RecipientState r, ProviderEvent pe)
    {
        RecipientStatus? fate = pe.Kind switch
        {
            ProviderEventKind.Accepted => RecipientStatus.Accepted,
            ProviderEventKind.TemporaryFailure => RecipientStatus.Deferred,
            ProviderEventKind.Delivered => RecipientStatus.Delivered,
            ProviderEventKind.PermanentFailure => RecipientStatus.Failed,
            _ => null,
        };
        if (fate is { } f && Outranks(f, pe.OccurredAt, pe.EventId, r))
            r = r with { Status = f, StatusAt = pe.OccurredAt, StatusEventId = pe.EventId, Reason = pe.Reason ?? pe.Description, Code = pe.Code };
        switch (pe.Kind)
        {
            case ProviderEventKind.Opened:
            case ProviderEventKind.Clicked:
                var eng = new Engagement(pe.Kind.ToWire(), pe.OccurredAt, pe.EventId, pe.Url);
                var idx = r.Engagements.FindIndex(x => Compare(x.At, x.EventId, eng.At, eng.EventId) > 0);
                r = r with { Engagements = idx < 0 ? r.Engagements.Add(eng) : r.Engagements.Insert(idx, eng) };
                break;
            case ProviderEventKind.Complained:
                r = r with { Complained = true };
                break;
            case ProviderEventKind.Unsubscribed:
                r = r with { Unsubscribed = true };
                break;
        }
        return r;
    }

    private static bool Outranks(RecipientStatus status, DateTimeOffset at, string eventId, RecipientState current) =>
        status > current.Status ||
        (status == current.Status && Compare(at, eventId, current.StatusAt ?? DateTimeOffset.MinValue, current.StatusEventId ?? "") > 0);

    private static int Compare(DateTimeOffset a, string aId, DateTimeOffset b, string bId)
    {
        var c = a.CompareTo(b);
        return c != 0 ? c : string.CompareOrdinal(aId, bId);
    }
}

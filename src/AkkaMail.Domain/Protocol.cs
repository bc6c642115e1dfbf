namespace AkkaMail.Domain;

/// <summary>
/// Every message about one email carries its id, so one extractor can route it: to a child of the
/// EmailManager today, to a cluster-sharding region tomorrow.
/// </summary>
public interface IWithEmailId
{
    string EmailId { get; }
}

/// <summary>Marker of persisted email events: bound to our JSON serializer with stable manifests.</summary>
public interface IEmailEvent : IWithEmailId
{
    DateTimeOffset At { get; }
}

public interface IEmailCommand : IWithEmailId;

/// <summary>Events: facts, persisted in the journal. Never rename a manifest (see EmailEventSerializer).</summary>
public static class EmailEvents
{
    /// <param name="Suppressed">Recipients on the sender's suppression list at acceptance (address → reason):
    /// never sent to.</param>
    /// <param name="Template">The stored template (name and version) the content was rendered from; null for content
    /// given as it is, and in journals written before templates existed. <paramref name="Content"/> is the rendered
    /// result, so a later change of the template never alters an accepted email.</param>
    public sealed record EmailAccepted(
        string EmailId, string UserId, EmailContent Content, DateTimeOffset At,
        string? IdempotencyKey = null, string? RequestFingerprint = null, DateTimeOffset? SendAt = null,
        IReadOnlyDictionary<string, string>? Suppressed = null, TemplateUse? Template = null) : IEmailEvent;

    /// <summary>The send job for <paramref name="Attempt"/> is durably in the send queue.</summary>
    public sealed record EmailDispatched(string EmailId, int Attempt, DateTimeOffset At) : IEmailEvent;

    public sealed record SendAttemptStarted(string EmailId, int Attempt, DateTimeOffset At) : IEmailEvent;

    /// <param name="Provider">The provider the attempt went through (<c>mailgun</c>, <c>smtp</c>…); null in journals written
    /// before it was recorded, when there was one provider.</param>
    public sealed record EmailSent(string EmailId, int Attempt, string ProviderMessageId, DateTimeOffset At, string? Provider = null) : IEmailEvent;

    /// <param name="Provider">The provider the failed attempt went to, when a route chose it; null otherwise and in journals
    /// written before it was recorded.</param>
    public sealed record SendRetryScheduled(
        string EmailId, int Attempt, string Reason, DateTimeOffset NextAttemptAt, DateTimeOffset At, string? Provider = null) : IEmailEvent;

    /// <param name="Kind">Why, as a bounded set; null in journals written before it existed (see
    /// <see cref="SendFailureKinds.KindOf"/>, which derives it from the reason then).</param>
    /// <param name="Provider">The provider that refused the last attempt, when a route chose it; null otherwise.</param>
    public sealed record EmailSendFailed(
        string EmailId, int Attempt, string Reason, DateTimeOffset At, SendFailureKind? Kind = null, string? Provider = null) : IEmailEvent;

    public sealed record EmailCancelled(string EmailId, DateTimeOffset At) : IEmailEvent;

    public sealed record ProviderEventRecorded(string EmailId, ProviderEvent Event, DateTimeOffset At) : IEmailEvent;

    /// <summary>The provider's event log no longer reaches back to the send (its retention is over) and still holds no
    /// final fate for <paramref name="Recipients"/>: nothing more will be learnt of them, and the timeline says so rather
    /// than stay silent. Recorded once per email; it changes no recipient's fate (a late report still applies).</summary>
    /// <param name="Provider">The provider the email went out through, whose reports are missing.</param>
    /// <param name="Retention">How long that provider keeps its events, as configured when this was recorded.</param>
    public sealed record ProviderReportMissing(
        string EmailId, string Provider, IReadOnlyList<string> Recipients, TimeSpan Retention, DateTimeOffset At) : IEmailEvent;
}

/// <summary>Commands: requests to an email actor, which it may refuse.</summary>
public static class EmailCommands
{
    public sealed record AcceptEmail(
        string EmailId, string UserId, EmailContent Content,
        string? IdempotencyKey = null, string? RequestFingerprint = null, DateTimeOffset? SendAt = null,
        IReadOnlyDictionary<string, string>? Suppressed = null, TemplateUse? Template = null) : IEmailCommand;

    /// <summary>Told by the dispatcher once the queue holds the job durably. Never answered.</summary>
    public sealed record MarkDispatched(string EmailId, int Attempt) : IEmailCommand;

    /// <summary>Asked by the sender stream before it calls the provider: may attempt n go?</summary>
    public sealed record BeginSendAttempt(string EmailId, int Attempt) : IEmailCommand;

    public sealed record RecordSendOutcome(string EmailId, int Attempt, SendOutcome Outcome) : IEmailCommand;

    public sealed record ApplyProviderEvent(string EmailId, ProviderEvent Event) : IEmailCommand;

    public sealed record CancelEmail(string EmailId) : IEmailCommand;

    /// <summary>Re-dispatch if accepted but never handed to the queue, or handed over and not picked up in time.</summary>
    /// <param name="LostIfDispatchedBefore">Jobs queued before this instant are known to be gone: the in-process
    /// queue empties with its process, so right after a start every earlier dispatch is lost, due or not.</param>
    /// <remarks>Never answered: a due email dispatches itself (<see cref="EmailEffect.Dispatch"/>).</remarks>
    public sealed record SweepDispatch(string EmailId, TimeSpan PickupTimeout, DateTimeOffset? LostIfDispatchedBefore = null) : IEmailCommand;

    /// <summary>Answered with the actor's <see cref="EmailState"/> (empty when no such email exists).</summary>
    public sealed record GetEmailState(string EmailId) : IEmailCommand;

    /// <summary>Asked by the retention job: apply <paramref name="Policy"/> now (<see cref="RetentionPolicy.Decide"/>);
    /// answered with <see cref="EmailReplies.RetentionApplied"/> once the journal's deletions are done.</summary>
    public sealed record ApplyRetention(string EmailId, RetentionPolicy Policy) : IEmailCommand;

    /// <summary>Asked by the reconciliation job for an email sent through <paramref name="Provider"/> whose send is older
    /// than that provider's event <paramref name="Retention"/>: record that no report came for the recipients still
    /// without a final fate (<see cref="EmailEvents.ProviderReportMissing"/>). Answered with
    /// <see cref="EmailReplies.NoProviderReportMarked"/>.</summary>
    public sealed record MarkNoProviderReport(string EmailId, string Provider, TimeSpan Retention) : IEmailCommand;
}

/// <summary>What the provider said about a send attempt.</summary>
public abstract record SendOutcome
{
    /// <param name="Provider">The provider that accepted it, when the route knows (null: not recorded).</param>
    public sealed record Sent(string ProviderMessageId, string? Provider = null) : SendOutcome;
    /// <param name="Provider">The provider that answered, when a route chose it (null: not recorded).</param>
    public sealed record Transient(string Reason, TimeSpan? RetryAfter = null, string? Provider = null) : SendOutcome;
    /// <param name="Provider">The provider that refused, when a route chose it (null: not recorded).</param>
    public sealed record Permanent(string Reason, string? Provider = null) : SendOutcome;
}

/// <summary>Why an email failed for good before any recipient's fate was known.</summary>
public enum SendFailureKind
{
    /// <summary>The provider refused the message permanently.</summary>
    ProviderRefused,
    /// <summary>Every attempt the retry policy allows failed transiently.</summary>
    AttemptsExhausted,
    /// <summary>The retry deadline after the email was due passed with a transient failure.</summary>
    DeadlinePassed,
    /// <summary>Every recipient was on the sender's suppression list at acceptance: nothing to send.</summary>
    AllRecipientsSuppressed,
}

public static class SendFailureKinds
{
    /// <summary>The failure's kind; for an event from a journal written before the kind was persisted, derived from
    /// the reason texts that code wrote (every one of them is covered, so old journals keep their labels).</summary>
    public static SendFailureKind KindOf(this EmailEvents.EmailSendFailed failed) =>
        failed.Kind ?? (failed.Reason.StartsWith("gave up after", StringComparison.Ordinal)
            ? failed.Reason.Contains("retry deadline", StringComparison.Ordinal) ? SendFailureKind.DeadlinePassed : SendFailureKind.AttemptsExhausted
            : failed.Reason.Contains("suppression", StringComparison.Ordinal) ? SendFailureKind.AllRecipientsSuppressed
            : SendFailureKind.ProviderRefused);

    /// <summary>The kind as a metric label (<c>rejected</c> kept from before the kind existed).</summary>
    public static string ToWire(this SendFailureKind kind) => kind switch
    {
        SendFailureKind.ProviderRefused => "rejected",
        SendFailureKind.AttemptsExhausted => "attempts_exhausted",
        SendFailureKind.DeadlinePassed => "deadline_passed",
        SendFailureKind.AllRecipientsSuppressed => "suppressed",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}

/// <summary>Why the sender may not make a send attempt now.</summary>
public abstract record DenialReason
{
    /// <summary>No such email.</summary>
    public sealed record UnknownEmail : DenialReason;
    /// <summary>The attempt is current but its time has not come (a scheduled email's job arrived early).</summary>
    public sealed record NotYetDue(DateTimeOffset DueAt) : DenialReason;
    /// <summary>This very attempt is in flight: a duplicate job.</summary>
    public sealed record AttemptInProgress : DenialReason;
    /// <summary>The job is stale for good: the email is sent, failed or cancelled, or another attempt is current.</summary>
    public sealed record NotCurrent(EmailStatus Status, int CurrentAttempt) : DenialReason;

    public static readonly DenialReason Unknown = new UnknownEmail();
    public static readonly DenialReason InProgress = new AttemptInProgress();
}

/// <summary>What the email actor does after persisting a decision's events (or at once, when there are none).</summary>
public abstract record EmailEffect
{
    /// <summary>Hand the job of <paramref name="Attempt"/> to the send queue, visible after <paramref name="Delay"/>.</summary>
    public sealed record Dispatch(int Attempt, TimeSpan Delay) : EmailEffect;
}

/// <summary>Replies: answers to commands, one sealed hierarchy per command that is asked.</summary>
public static class EmailReplies
{
    /// <summary>The answer to <see cref="EmailCommands.AcceptEmail"/>.</summary>
    public abstract record AcceptReply(string EmailId);
    public sealed record EmailAccepted(string EmailId, EmailStatus Status, bool Existing) : AcceptReply(EmailId);
    public sealed record IdempotencyConflict(string EmailId) : AcceptReply(EmailId);

    /// <summary>The answer to <see cref="EmailCommands.BeginSendAttempt"/>.</summary>
    public abstract record BeginSendReply(string EmailId, int Attempt);
    public sealed record SendApproved(string EmailId, int Attempt, EmailContent Content, IReadOnlyList<string> Recipients)
        : BeginSendReply(EmailId, Attempt);
    public sealed record SendDenied(string EmailId, int Attempt, DenialReason Reason) : BeginSendReply(EmailId, Attempt);

    /// <summary>What the sender must do after recording an outcome.</summary>
    public enum NextStep { Done, Retry, DeadLetter, Ignored }
    /// <summary>The answer to <see cref="EmailCommands.RecordSendOutcome"/>.</summary>
    public sealed record OutcomeRecorded(string EmailId, NextStep Next, int NextAttempt = 0, TimeSpan Delay = default);

    /// <summary><see cref="ProviderEventResult.MessageIdMismatch"/>: the event names a provider message id other than
    /// the email's (an altered or misrouted event); refused, nothing recorded. <see cref="ProviderEventResult.OtherProvider"/>:
    /// the event comes from a provider other than the one the email was sent through; ignored, nothing recorded.</summary>
    public enum ProviderEventResult { Applied, Duplicate, UnknownEmail, MessageIdMismatch, OtherProvider }
    /// <summary>The answer to <see cref="EmailCommands.ApplyProviderEvent"/>.</summary>
    public sealed record ProviderEventApplied(string EmailId, ProviderEventResult Result);

    /// <summary>The answer to <see cref="EmailCommands.CancelEmail"/>.</summary>
    public abstract record CancelReply(string EmailId);
    public sealed record Cancelled(string EmailId) : CancelReply(EmailId);
    public sealed record CannotCancel(string EmailId, EmailStatus Status) : CancelReply(EmailId);
    public sealed record UnknownEmail(string EmailId) : CancelReply(EmailId);

    /// <summary>The answer to <see cref="EmailCommands.ApplyRetention"/>: what was done (<see cref="RetentionStep.Keep"/>:
    /// nothing), and the email's user (null when it does not exist, or no longer).</summary>
    public sealed record RetentionApplied(string EmailId, RetentionStep Step, string? UserId);

    /// <summary>The answer to <see cref="EmailCommands.MarkNoProviderReport"/>: <paramref name="Marked"/> when the marker was
    /// recorded now; false when it was already, or is not due (not sent through that provider, every recipient final,
    /// the retention not over yet, no such email).</summary>
    public sealed record NoProviderReportMarked(string EmailId, bool Marked);
}

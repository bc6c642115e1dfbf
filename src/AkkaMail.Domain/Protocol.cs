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
    public sealed record EmailAccepted(
        string EmailId, string UserId, EmailContent Content, DateTimeOffset At,
        string? IdempotencyKey = null, string? RequestFingerprint = null, DateTimeOffset? SendAt = null,
        IReadOnlyDictionary<string, string>? Suppressed = null) : IEmailEvent;

    /// <summary>The send job for <paramref name="Attempt"/> is durably in the send queue.</summary>
    public sealed record EmailDispatched(string EmailId, int Attempt, DateTimeOffset At) : IEmailEvent;

    public sealed record SendAttemptStarted(string EmailId, int Attempt, DateTimeOffset At) : IEmailEvent;

    public sealed record EmailSent(string EmailId, int Attempt, string ProviderMessageId, DateTimeOffset At) : IEmailEvent;

    public sealed record SendRetryScheduled(
        string EmailId, int Attempt, string Reason, DateTimeOffset NextAttemptAt, DateTimeOffset At) : IEmailEvent;

    public sealed record EmailSendFailed(string EmailId, int Attempt, string Reason, DateTimeOffset At) : IEmailEvent;

    public sealed record EmailCancelled(string EmailId, DateTimeOffset At) : IEmailEvent;

    public sealed record ProviderEventRecorded(string EmailId, ProviderEvent Event, DateTimeOffset At) : IEmailEvent;
}

/// <summary>Commands: requests to an email actor, which it may refuse.</summary>
public static class EmailCommands
{
    public sealed record AcceptEmail(
        string EmailId, string UserId, EmailContent Content,
        string? IdempotencyKey = null, string? RequestFingerprint = null, DateTimeOffset? SendAt = null,
        IReadOnlyDictionary<string, string>? Suppressed = null) : IEmailCommand;

    public sealed record MarkDispatched(string EmailId, int Attempt) : IEmailCommand;

    /// <summary>Asked by the sender stream before it calls the provider: may attempt n go?</summary>
    public sealed record BeginSendAttempt(string EmailId, int Attempt) : IEmailCommand;

    public sealed record RecordSendOutcome(string EmailId, int Attempt, SendOutcome Outcome) : IEmailCommand;

    public sealed record ApplyProviderEvent(string EmailId, ProviderEvent Event) : IEmailCommand;

    public sealed record CancelEmail(string EmailId) : IEmailCommand;

    /// <summary>Re-dispatch if accepted but never handed to the queue, or handed over and not picked up in time.</summary>
    /// <param name="LostIfDispatchedBefore">Jobs queued before this instant are known to be gone: the in-process
    /// queue empties with its process, so right after a start every earlier dispatch is lost, due or not.</param>
    public sealed record SweepDispatch(string EmailId, TimeSpan PickupTimeout, DateTimeOffset? LostIfDispatchedBefore = null) : IEmailCommand;

    public sealed record GetEmailState(string EmailId) : IEmailCommand;
}

/// <summary>What the provider said about a send attempt.</summary>
public abstract record SendOutcome
{
    public sealed record Sent(string ProviderMessageId) : SendOutcome;
    public sealed record Transient(string Reason, TimeSpan? RetryAfter = null) : SendOutcome;
    public sealed record Permanent(string Reason) : SendOutcome;
}

/// <summary>Replies: answers to commands.</summary>
public static class EmailReplies
{
    public sealed record EmailAccepted(string EmailId, EmailStatus Status, bool Existing);
    public sealed record IdempotencyConflict(string EmailId);

    public sealed record SendApproved(string EmailId, int Attempt, EmailContent Content, IReadOnlyList<string> Recipients);
    public sealed record SendDenied(string EmailId, int Attempt, string Reason);

    /// <summary>What the sender must do after recording an outcome.</summary>
    public enum NextStep { Done, Retry, DeadLetter, Ignored }
    public sealed record OutcomeRecorded(string EmailId, NextStep Next, int NextAttempt = 0, TimeSpan Delay = default);

    /// <summary><see cref="ProviderEventResult.MessageIdMismatch"/>: the event names a provider message id other than
    /// the email's (an altered or misrouted event); refused, nothing recorded.</summary>
    public enum ProviderEventResult { Applied, Duplicate, UnknownEmail, MessageIdMismatch }
    public sealed record ProviderEventApplied(string EmailId, ProviderEventResult Result);

    public sealed record Cancelled(string EmailId);
    public sealed record CannotCancel(string EmailId, EmailStatus Status);

    public sealed record Dispatch(string EmailId, int Attempt, TimeSpan Delay);
    public sealed record NothingToDo(string EmailId);

    public sealed record UnknownEmail(string EmailId);
}

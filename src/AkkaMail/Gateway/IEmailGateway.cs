using AkkaMail.Domain;

namespace AkkaMail.Gateway;

/// <summary>
/// The one way into the email actors from outside them: the API, the webhook processing, the sandbox provider and the
/// read model's journal-consistent reads. Typed requests in, typed results out; it owns the ask timeouts and answers
/// <c>Unavailable</c> when an email's actor does not answer in time, so no caller knows an actor, a command or an
/// <see cref="Akka.Actor.AskTimeoutException"/>.
/// </summary>
public interface IEmailGateway
{
    /// <summary>Accepts an email (or answers as before for a retried request with the same idempotency key).</summary>
    Task<AcceptResult> AcceptAsync(EmailSubmission submission, CancellationToken ct = default);

    /// <summary>Cancels an email not yet handed to the provider.</summary>
    Task<CancelResult> CancelAsync(string emailId, CancellationToken ct = default);

    /// <summary>Applies a provider's report about one recipient.</summary>
    /// <param name="emailId">Our id when the provider echoed it back; else the email is found by the event's provider
    /// message id.</param>
    Task<ProviderEventResult> ApplyProviderEventAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default);

    /// <summary>The email's state as its actor holds it: exactly what it last answered.</summary>
    Task<EmailStateResult> GetStateAsync(string emailId, CancellationToken ct = default);
}

/// <summary>An email to accept. <paramref name="EmailId"/> is derived from (user, idempotency key) when there is a key,
/// so a retried request reaches the same email.</summary>
/// <param name="Suppressed">Recipients on the sender's suppression list (address → reason): never sent to.</param>
public sealed record EmailSubmission(
    string EmailId, string UserId, EmailContent Content,
    string? IdempotencyKey = null, string? RequestFingerprint = null, DateTimeOffset? SendAt = null,
    IReadOnlyDictionary<string, string>? Suppressed = null, TemplateUse? Template = null);

public abstract record AcceptResult(string EmailId)
{
    /// <param name="Existing">The email existed already: a retried request with the same idempotency key.</param>
    public sealed record Accepted(string EmailId, EmailStatus Status, bool Existing) : AcceptResult(EmailId);
    /// <summary>The idempotency key was used before with a different request.</summary>
    public sealed record IdempotencyConflict(string EmailId) : AcceptResult(EmailId);
    /// <summary>No answer in time: the email may or may not be accepted; a retry with the same key tells.</summary>
    public sealed record Unavailable(string EmailId) : AcceptResult(EmailId);
}

public abstract record CancelResult(string EmailId)
{
    public sealed record Cancelled(string EmailId) : CancelResult(EmailId);
    /// <summary>Too late: the provider has it (or it is settled); <paramref name="Status"/> says where it is.</summary>
    public sealed record CannotCancel(string EmailId, EmailStatus Status) : CancelResult(EmailId);
    public sealed record Unknown(string EmailId) : CancelResult(EmailId);
    public sealed record Unavailable(string EmailId) : CancelResult(EmailId);
}

public abstract record ProviderEventResult
{
    public sealed record Applied(string EmailId) : ProviderEventResult;
    /// <summary>This event (by its id) was applied before.</summary>
    public sealed record Duplicate(string EmailId) : ProviderEventResult;
    /// <summary>About no email of ours (or, found by message id, none known yet): nothing recorded.</summary>
    public sealed record UnknownEmail : ProviderEventResult;
    /// <summary>The event names a provider message id other than the email's (an altered or misrouted event):
    /// refused, nothing recorded.</summary>
    public sealed record MessageIdMismatch(string EmailId) : ProviderEventResult;
    /// <summary>The event comes from a provider other than the one the email went out through (a failover): ignored,
    /// nothing recorded.</summary>
    public sealed record OtherProvider(string EmailId) : ProviderEventResult;
    /// <summary>Not applied now (no answer in time, or the email cannot be found yet): the provider should retry.</summary>
    public sealed record Unavailable(string Reason) : ProviderEventResult;

    public static readonly ProviderEventResult Unknown = new UnknownEmail();
}

public abstract record EmailStateResult(string EmailId)
{
    public sealed record Found(EmailState State) : EmailStateResult(State.EmailId);
    public sealed record Unknown(string EmailId) : EmailStateResult(EmailId);
    public sealed record Unavailable(string EmailId) : EmailStateResult(EmailId);
}

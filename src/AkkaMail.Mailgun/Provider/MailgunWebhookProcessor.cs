using AkkaMail.Gateway;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Mailgun.Provider;

/// <summary>What became of one Mailgun webhook; the endpoint maps each case to one HTTP answer.</summary>
/// <param name="EventType">A bounded label for metrics: a known event type by name, <c>other</c>, or null when the
/// event could not be read.</param>
public abstract record MailgunWebhookOutcome(string? EventType)
{
    /// <summary>Recorded on the email.</summary>
    public sealed record Applied(string EventType) : MailgunWebhookOutcome(EventType);
    /// <summary>This event (by id) was recorded before.</summary>
    public sealed record Duplicate(string EventType) : MailgunWebhookOutcome(EventType);
    /// <summary>Deliberately not recorded (an event type we do not track, an unknown email); done, not to be retried.</summary>
    public sealed record Ignored(string? EventType, string Reason) : MailgunWebhookOutcome(EventType);
    /// <summary>Not shown to be Mailgun's: no readable signature, a wrong or stale one, or no signing key configured.
    /// Mailgun retries, so a fixed misconfiguration (key, clock) recovers its events.</summary>
    public sealed record Unauthenticated(string Detail) : MailgunWebhookOutcome((string?)null);
    /// <summary>Authentic but never acceptable (malformed event, altered message id, replayed token): retrying cannot help.</summary>
    public sealed record Rejected(string? EventType, string Detail) : MailgunWebhookOutcome(EventType);
    /// <summary>The body is over the limit.</summary>
    public sealed record TooLarge() : MailgunWebhookOutcome((string?)null);
    /// <summary>Could not be applied now (the email's actor did not answer, a store is down): to be retried.</summary>
    public sealed record Unavailable(string EventType) : MailgunWebhookOutcome(EventType);
}

/// <summary>
/// Turns one Mailgun webhook body into a <see cref="MailgunWebhookOutcome"/>: parse → verify the signature →
/// map the event → refuse a replayed token → apply through the gateway → remember the token. The order protects two
/// things: a token is remembered only once its event is applied (a crash in between leaves it unknown, so Mailgun's
/// retry is applied and deduplicated by event id, not refused as a replay), and nothing unsigned reaches an email.
/// </summary>
public sealed class MailgunWebhookProcessor(
    MailgunWebhookVerifier? verifier, IWebhookTokenStore tokens, IEmailGateway gateway, ILogger<MailgunWebhookProcessor> log)
{
    /// <summary>Reads and processes a body of at most <paramref name="maxBytes"/>. Errors reading the stream itself
    /// (the client went away, the server's own size limit) are the caller's: they are about the transport.</summary>
    public async Task<MailgunWebhookOutcome> ProcessAsync(Stream body, int maxBytes, CancellationToken ct)
    {
        var parsed = await MailgunWebhookParser.ParseAsync(body, maxBytes, ct);
        MailgunSignature signature;
        MailgunEvent? evt = null;
        string? malformed = null;
        switch (parsed)
        {
            case MailgunWebhookParseResult.Success s:
                (signature, evt) = (s.Webhook.Signature, s.Webhook.Event);
                break;
            case MailgunWebhookParseResult.Failure { Error.Kind: MailgunParseErrorKind.TooLarge }:
                return new MailgunWebhookOutcome.TooLarge();
            case MailgunWebhookParseResult.Failure { Signature: { } sig } f:
                (signature, malformed) = (sig, f.Error.Reason);
                break;
            case MailgunWebhookParseResult.Failure f:
                log.LogInformation("Mailgun webhook refused: {Reason}", f.Error.Reason);
                return new MailgunWebhookOutcome.Unauthenticated("No readable signature block: " + f.Error.Reason);
            default:
                return new MailgunWebhookOutcome.Unauthenticated("Unreadable body.");
        }

        if (verifier is null)
        {
            log.LogWarning("Mailgun webhook refused: Mailgun:WebhookSigningKey is not configured");
            return new MailgunWebhookOutcome.Unauthenticated("Webhook verification is not configured on this service.");
        }
        var verification = verifier.Verify(signature);
        if (verification != WebhookVerification.Valid)
        {
            log.LogInformation("Mailgun webhook refused: signature {Verification}", verification);
            return new MailgunWebhookOutcome.Unauthenticated(verification switch
            {
                WebhookVerification.Stale => $"The signature timestamp is more than {verifier.Tolerance} old, or more than {verifier.MaxClockSkew} ahead of now.",
                WebhookVerification.Malformed => "The signature block is malformed.",
                _ => "The signature does not match.",
            });
        }

        if (malformed is not null || evt is null)
        {
            log.LogWarning("Mailgun webhook rejected: signed, but the event is malformed: {Reason}", malformed);
            return new MailgunWebhookOutcome.Rejected(null, "Malformed event-data: " + malformed);
        }

        var eventType = evt.Type == MailgunEventType.Unknown ? "other" : evt.EventType;
        var mapping = MailgunEventMapper.Map(evt);
        if (mapping is MailgunEventMapper.Mapping.Unusable unusable)
        {
            log.LogWarning("Mailgun webhook rejected: event {EventId} ({EventType}): {Reason}", evt.Id, evt.EventType, unusable.Reason);
            return new MailgunWebhookOutcome.Rejected(eventType, unusable.Reason);
        }

        // Two copies arriving at once may both pass this check; the event id makes the second a duplicate.
        if (await tokens.IsKnownAsync(signature.Token, ct))
        {
            log.LogWarning("Mailgun webhook rejected: token replayed (event {EventId})", evt.Id);
            return new MailgunWebhookOutcome.Rejected(eventType, "This webhook's token was seen before (replay).");
        }

        if (mapping is MailgunEventMapper.Mapping.Untracked untracked)
        {
            log.LogInformation("Mailgun webhook ignored: event {EventId}: {Reason}", evt.Id, untracked.Reason);
            await RememberAsync(signature, evt.Id);
            return new MailgunWebhookOutcome.Ignored(eventType, untracked.Reason);
        }

        var tracked = (MailgunEventMapper.Mapping.Tracked)mapping;
        ProviderEventResult result;
        try
        {
            result = await gateway.ApplyProviderEventAsync(tracked.EmailId, tracked.Event, ct);
        }
        catch (Exception e)
        {
            // Not the body's fault (a store down, shutdown): Mailgun retries, and the token is not remembered.
            log.LogWarning(e, "Mailgun webhook: event {EventId} for email {EmailId} could not be applied", evt.Id, tracked.EmailId);
            return new MailgunWebhookOutcome.Unavailable(eventType);
        }
        if (result is ProviderEventResult.Unavailable unavailable)
        {
            log.LogWarning("Mailgun webhook: event {EventId} for email {EmailId} could not be applied ({Reason})",
                evt.Id, tracked.EmailId, unavailable.Reason);
            return new MailgunWebhookOutcome.Unavailable(eventType);
        }

        // The event is in the journal (or was before, or is about no email of ours): now the token counts as seen.
        await RememberAsync(signature, evt.Id);
        switch (result)
        {
            case ProviderEventResult.Applied applied:
                log.LogDebug("Mailgun webhook applied: {EventType} for {Recipient} of email {EmailId}", evt.EventType, evt.Recipient, applied.EmailId);
                return new MailgunWebhookOutcome.Applied(eventType);
            case ProviderEventResult.Duplicate:
                return new MailgunWebhookOutcome.Duplicate(eventType);
            case ProviderEventResult.OtherProvider other:
                log.LogInformation("Mailgun webhook ignored: email {EmailId} went out through another provider (event {EventId}, {EventType})",
                    other.EmailId, evt.Id, evt.EventType);
                return new MailgunWebhookOutcome.Ignored(eventType, "sent through another provider");
            case ProviderEventResult.MessageIdMismatch:
                log.LogWarning("Mailgun webhook rejected: event {EventId} names message {MessageId}, which is not email {EmailId}'s",
                    evt.Id, evt.MessageId, tracked.EmailId);
                return new MailgunWebhookOutcome.Rejected(eventType, "The event's message id is not the message id of the email it names.");
            default:
                log.LogInformation("Mailgun webhook ignored: event {EventId} ({EventType}) is about an unknown email (email-id {EmailId}, message-id {MessageId})",
                    evt.Id, evt.EventType, tracked.EmailId, evt.MessageId);
                return new MailgunWebhookOutcome.Ignored(eventType, "unknown email");
        }
    }

    /// <summary>Remembers a verified token until its signature goes stale; a failure only weakens replay detection
    /// (the event id still deduplicates).</summary>
    private async Task RememberAsync(MailgunSignature signature, string? eventId)
    {
        try { await verifier!.RememberAsync(signature, tokens, CancellationToken.None); }
        catch (Exception e) { log.LogWarning(e, "Mailgun webhook: could not remember the token of event {EventId}; a replay would be deduplicated by its id", eventId); }
    }
}

using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Mailgun;
using AkkaMail.Api.Webhooks;
using Microsoft.AspNetCore.Http.Metadata;
using AkkaMail.Api.Infrastructure;

// In the app's root namespace so AkkaMailApp maps it with one line and no extra using.
namespace AkkaMail.Api.Webhooks;

/// <summary>
/// <c>POST /api/webhooks/mailgun</c>: Mailgun's event webhooks (JSON: <c>signature</c> + <c>event-data</c>). Anonymous:
/// the HMAC signature is the authentication. Answers, with Mailgun's retry rules in mind (200 = done; 406 = rejected,
/// never retried; anything else is retried for about 8 hours):
/// <list type="bullet">
/// <item>200 — applied, a duplicate, or deliberately ignored (unknown email, event type we do not track).</item>
/// <item>401 — missing, malformed or wrong signature, stale timestamp, or no signing key configured: if that is our
/// misconfiguration (wrong key, clock), Mailgun's retries succeed once it is fixed.</item>
/// <item>406 — authentic but never acceptable: malformed <c>event-data</c>, an event whose message id is not the one of
/// the email its <c>user-variables.email-id</c> names (Mailgun signs only timestamp + token: the body may have been
/// altered), or a token seen before (a replay). A replayed
/// token was processed the first time; retrying it can never succeed, so we tell Mailgun to stop rather than have it
/// retry for hours (an attacker replaying a captured request gains nothing either way).</item>
/// <item>413 — body over <see cref="MaxBodyBytes"/>.</item>
/// <item>503 — the email's actor did not answer in time; the token is not remembered, so Mailgun's retry is accepted.</item>
/// </list>
/// Never 500 on any body.
/// </summary>
public static class MailgunWebhookEndpoints
{
    public const string Path = "/api/webhooks/mailgun";
    /// <summary>Real payloads are a few KB.</summary>
    public const int MaxBodyBytes = 1024 * 1024;
    private const string LogCategory = "AkkaMail.Api.Webhooks.Mailgun";

    public static IEndpointConventionBuilder MapMailgunWebhooks(this IEndpointRouteBuilder app) =>
        app.MapPost(Path, CountedAsync)
            .AllowAnonymous()
            .WithName("MailgunWebhook")
            .Produces<WebhookAnswer>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status406NotAcceptable).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            // Kestrel stops reading just past our limit instead of buffering up to its 30 MB default.
            .WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes + 1));

    public sealed record WebhookAnswer(string Status, string? Detail = null);

    private const string EventTypeItem = "akkamail.webhook.event-type";

    /// <summary>Every webhook counted by its event type (when it could be read) and its answer.</summary>
    private static async Task<IResult> CountedAsync(HttpContext http, IServiceProvider services, ILoggerFactory loggers, Observability.AkkaMailMetrics metrics)
    {
        var result = await HandleAsync(http, services, loggers);
        var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : 200;
        var outcome = result is IValueHttpResult { Value: WebhookAnswer answer } ? answer.Status : status.ToString();
        metrics.Webhooks.Add(1,
            new KeyValuePair<string, object?>("type", http.Items[EventTypeItem] as string ?? "unreadable"),
            new KeyValuePair<string, object?>("outcome", outcome));
        return result;
    }

    private static async Task<IResult> HandleAsync(HttpContext http, IServiceProvider services, ILoggerFactory loggers)
    {
        var log = loggers.CreateLogger(LogCategory);
        var ct = http.RequestAborted;

        if (http.Request.ContentLength > MaxBodyBytes)
            return TooLarge();

        MailgunWebhookParseResult parsed;
        try
        {
            parsed = await MailgunWebhookParser.ParseAsync(http.Request.Body, MaxBodyBytes, ct);
        }
        catch (BadHttpRequestException e)
        {
            return e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge()
                : Problem(StatusCodes.Status400BadRequest, "Bad request", ProblemTypes.MalformedJson, e.Message);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client went away mid-body; nobody reads this answer.
            return Problem(StatusCodes.Status400BadRequest, "Bad request", ProblemTypes.MalformedJson, "The body could not be read.");
        }

        MailgunSignature? signature;
        MailgunEvent? evt = null;
        string? malformed = null;
        switch (parsed)
        {
            case MailgunWebhookParseResult.Success s:
                signature = s.Webhook.Signature;
                evt = s.Webhook.Event;
                break;
            case MailgunWebhookParseResult.Failure { Error.Kind: MailgunParseErrorKind.TooLarge }:
                return TooLarge();
            case MailgunWebhookParseResult.Failure { Signature: { } sig } f:
                signature = sig;
                malformed = f.Error.Reason;
                break;
            case MailgunWebhookParseResult.Failure f:
                log.LogInformation("Mailgun webhook refused (401): {Reason}", f.Error.Reason);
                return Unauthorized("No readable signature block: " + f.Error.Reason);
            default:
                return Unauthorized("Unreadable body.");
        }

        var verifier = services.GetService<MailgunWebhookVerifier>();
        if (verifier is null)
        {
            log.LogWarning("Mailgun webhook refused (401): Mailgun:WebhookSigningKey is not configured");
            return Unauthorized("Webhook verification is not configured on this service.");
        }

        var verification = verifier.Verify(signature);
        if (verification != WebhookVerification.Valid)
        {
            log.LogInformation("Mailgun webhook refused (401): signature {Verification}", verification);
            return Unauthorized(verification switch
            {
                WebhookVerification.Stale => $"The signature timestamp is more than {verifier.Tolerance} old, or more than {verifier.MaxClockSkew} ahead of now.",
                WebhookVerification.Malformed => "The signature block is malformed.",
                _ => "The signature does not match.",
            });
        }

        if (malformed is not null || evt is null)
        {
            log.LogWarning("Mailgun webhook rejected (406): signed, but the event is malformed: {Reason}", malformed);
            return NotAcceptable("Malformed event-data: " + malformed);
        }

        // A bounded label: known types by name, anything else as "other".
        http.Items[EventTypeItem] = evt.Type == MailgunEventType.Unknown ? "other" : evt.EventType;
        var mapping = MailgunEventMapper.Map(evt);
        if (mapping is MailgunEventMapper.Mapping.Unusable u)
        {
            log.LogWarning("Mailgun webhook rejected (406): event {EventId} ({EventType}): {Reason}", evt.Id, evt.EventType, u.Reason);
            return NotAcceptable(u.Reason);
        }

        // The replay guard comes last among the checks. A token is remembered only once its event is applied (below):
        // a crash in between leaves it unknown, so Mailgun's retry is applied (and deduplicated by event id), not
        // refused as a replay. Two copies arriving at once may both pass here; the event id makes the second a duplicate.
        var tokens = services.GetRequiredService<IWebhookTokenStore>();
        if (await verifier.IsReplayAsync(signature, tokens, ct))
        {
            log.LogWarning("Mailgun webhook rejected (406): token replayed (event {EventId})", evt.Id);
            return NotAcceptable("This webhook's token was seen before (replay).");
        }

        if (mapping is MailgunEventMapper.Mapping.Untracked untracked)
        {
            log.LogInformation("Mailgun webhook ignored: event {EventId}: {Reason}", evt.Id, untracked.Reason);
            await RememberQuietlyAsync(verifier, signature, tokens, log, evt.Id);
            return Results.Ok(new WebhookAnswer("ignored", untracked.Reason));
        }

        var tracked = (MailgunEventMapper.Mapping.Tracked)mapping;
        ProviderEventResult result;
        try
        {
            result = await services.GetRequiredService<IEmailGateway>().ApplyProviderEventAsync(tracked.EmailId, tracked.Event, ct);
        }
        catch (Exception e)
        {
            // Not the body's fault (a store down, shutdown): let Mailgun retry. The token was not remembered, so the
            // retry is accepted.
            log.LogWarning(e, "Mailgun webhook: event {EventId} for email {EmailId} could not be applied; answering 503", evt.Id, tracked.EmailId);
            return Problem(StatusCodes.Status503ServiceUnavailable, "Busy", ProblemTypes.Unavailable, "The event could not be applied now; retry later.");
        }
        if (result is ProviderEventResult.Unavailable unavailable)
        {
            // Not applied now (no answer in time, read model behind): likewise.
            log.LogWarning("Mailgun webhook: event {EventId} for email {EmailId} could not be applied ({Reason}); answering 503",
                evt.Id, tracked.EmailId, unavailable.Reason);
            return Problem(StatusCodes.Status503ServiceUnavailable, "Busy", ProblemTypes.Unavailable, "The event could not be applied now; retry later.");
        }

        // The event is in the journal (or was before, or is about no email of ours): now the token counts as seen.
        await RememberQuietlyAsync(verifier, signature, tokens, log, evt.Id);

        switch (result)
        {
            case ProviderEventResult.Applied:
                log.LogDebug("Mailgun webhook applied: {EventType} for {Recipient} of email {EmailId}", evt.EventType, evt.Recipient, tracked.EmailId ?? evt.MessageId);
                return Results.Ok(new WebhookAnswer("applied"));
            case ProviderEventResult.Duplicate:
                return Results.Ok(new WebhookAnswer("duplicate", "This event was applied before."));
            case ProviderEventResult.MessageIdMismatch:
                log.LogWarning("Mailgun webhook rejected (406): event {EventId} names message {MessageId}, which is not email {EmailId}'s",
                    evt.Id, evt.MessageId, tracked.EmailId);
                return NotAcceptable("The event's message id is not the message id of the email it names.");
            default:
                log.LogInformation("Mailgun webhook ignored: event {EventId} ({EventType}) is about an unknown email (email-id {EmailId}, message-id {MessageId})",
                    evt.Id, evt.EventType, tracked.EmailId, evt.MessageId);
                return Results.Ok(new WebhookAnswer("ignored", "unknown email"));
        }
    }

    /// <summary>Remembers the token; a failure only weakens replay detection (the event id still deduplicates).</summary>
    private static async Task RememberQuietlyAsync(MailgunWebhookVerifier verifier, MailgunSignature signature, IWebhookTokenStore tokens,
        ILogger log, string? eventId)
    {
        try { await verifier.RememberAsync(signature, tokens, CancellationToken.None); }
        catch (Exception e) { log.LogWarning(e, "Mailgun webhook: could not remember the token of event {EventId}; a replay would be deduplicated by its id", eventId); }
    }

    private static IResult Unauthorized(string detail) =>
        Problem(StatusCodes.Status401Unauthorized, "Invalid webhook signature", ProblemTypes.Unauthorized, detail);

    private static IResult NotAcceptable(string detail) =>
        Problem(StatusCodes.Status406NotAcceptable, "Webhook rejected", ProblemTypes.Validation, detail);

    private static IResult TooLarge() =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Payload too large", ProblemTypes.PayloadTooLarge, $"Webhook bodies are limited to {MaxBodyBytes} bytes.");

    private static IResult Problem(int status, string title, string type, string detail) =>
        Results.Problem(statusCode: status, title: title, type: type, detail: detail.Length > 300 ? detail[..300] + "…" : detail);
}

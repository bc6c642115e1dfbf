using AkkaMail.Api.Infrastructure;
using AkkaMail.Mailgun.Provider;
using Microsoft.AspNetCore.Http.Metadata;

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

    public static IEndpointConventionBuilder MapMailgunWebhooks(this IEndpointRouteBuilder app) =>
        app.MapPost(Path, HandleAsync)
            .AllowAnonymous()
            .WithName("MailgunWebhook")
            .Produces<WebhookAnswer>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status406NotAcceptable).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            // Kestrel stops reading just past our limit instead of buffering up to its 30 MB default.
            .WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes + 1));

    public sealed record WebhookAnswer(string Status, string? Detail = null);

    /// <summary>Every webhook counted by its event type (when it could be read) and its answer.</summary>
    private static async Task<IResult> HandleAsync(HttpContext http, MailgunWebhookProcessor processor, Observability.AkkaMailMetrics metrics)
    {
        var (result, eventType) = await AnswerAsync(http, processor);
        var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : 200;
        var outcome = result is IValueHttpResult { Value: WebhookAnswer answer } ? answer.Status : status.ToString();
        metrics.Webhooks.Add(1,
            new KeyValuePair<string, object?>("type", eventType ?? "unreadable"),
            new KeyValuePair<string, object?>("outcome", outcome));
        return result;
    }

    private static async Task<(IResult Result, string? EventType)> AnswerAsync(HttpContext http, MailgunWebhookProcessor processor)
    {
        if (http.Request.ContentLength > MaxBodyBytes) return (TooLarge(), null);
        MailgunWebhookOutcome outcome;
        try
        {
            outcome = await processor.ProcessAsync(http.Request.Body, MaxBodyBytes, http.RequestAborted);
        }
        catch (BadHttpRequestException e)
        {
            return (e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge()
                : Problem(StatusCodes.Status400BadRequest, "Bad request", ProblemTypes.MalformedJson, e.Message), null);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client went away mid-body; nobody reads this answer.
            return (Problem(StatusCodes.Status400BadRequest, "Bad request", ProblemTypes.MalformedJson, "The body could not be read."), null);
        }

        IResult result = outcome switch
        {
            MailgunWebhookOutcome.Applied => Results.Ok(new WebhookAnswer("applied")),
            MailgunWebhookOutcome.Duplicate => Results.Ok(new WebhookAnswer("duplicate", "This event was applied before.")),
            MailgunWebhookOutcome.Ignored i => Results.Ok(new WebhookAnswer("ignored", i.Reason)),
            MailgunWebhookOutcome.Unauthenticated u => Problem(StatusCodes.Status401Unauthorized, "Invalid webhook signature", ProblemTypes.Unauthorized, u.Detail),
            MailgunWebhookOutcome.Rejected r => Problem(StatusCodes.Status406NotAcceptable, "Webhook rejected", ProblemTypes.Validation, r.Detail),
            MailgunWebhookOutcome.TooLarge => TooLarge(),
            _ => Problem(StatusCodes.Status503ServiceUnavailable, "Busy", ProblemTypes.Unavailable, "The event could not be applied now; retry later."),
        };
        return (result, outcome.EventType);
    }

    private static IResult TooLarge() =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Payload too large", ProblemTypes.PayloadTooLarge, $"Webhook bodies are limited to {MaxBodyBytes} bytes.");

    private static IResult Problem(int status, string title, string type, string detail) =>
        Results.Problem(statusCode: status, title: title, type: type, detail: detail.Length > 300 ? detail[..300] + "…" : detail);
}

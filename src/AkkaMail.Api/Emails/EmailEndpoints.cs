using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AkkaMail.Api.Auth;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.ReadModel;
using AkkaMail.Serialization;
using AkkaMail.Suppressions;
using AkkaMail.Users;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Api.Templates;
using AkkaMail.Templates;

namespace AkkaMail.Api.Emails;

public static class EmailEndpoints
{
    public const long MaxBodyBytes = 15 * 1024 * 1024;
    public const int MaxIdempotencyKeyLength = 255;

    public static RouteGroupBuilder MapEmailEndpoints(this RouteGroupBuilder api)
    {
        // SendAsync and CancelAsync answer IResult: their responses are declared here. The other handlers' Results<...>
        // signatures declare theirs; only problem statuses, which a ProblemHttpResult does not name, are added.
        static RouteHandlerBuilder SendResponses(RouteHandlerBuilder send) => send
            .WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes))
            .RequireRateLimiting(RateLimits.SendPolicy).Accepts<SendEmailRequest>("application/json")
            .Produces<SendEmailResponse>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        SendResponses(api.MapPost("/emails", SendAsync)).WithName("SendEmail")
            .WithSummary("Queue an email. With an Idempotency-Key header, a retried request gets the same answer and no second email.");
        api.MapBatchEndpoint();
        // The path the original specification names.
        SendResponses(api.MapPost("/emails/send", SendAsync)).WithName("SendEmailAlias").WithSummary("Same as POST /api/emails.");
        api.MapGet("/emails", ListAsync).WithName("ListEmails")
            .WithSummary("Your emails, newest first; search q (subject, addresses, tags, ids, chosen headers; every term must match, " +
                "the last word of each as a prefix); filters: status, recipient, tag, createdAfter, createdBefore; limit (≤ 200), cursor.");
        api.MapGet("/emails/{id}", GetAsync).WithName("GetEmail").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("One email: status, recipients and timeline.");
        api.MapGet("/emails/{id}/content", ContentAsync).WithName("GetEmailContent").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("The message's subject, text and HTML bodies and attachments' names, for a preview; bodiesRemoved once retention removed them.");
        api.MapGet("/emails/{id}/events", EventsAsync).WithName("GetEmailEvents").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("The email's timeline: every event with its time.");
        api.MapPost("/emails/{id}/cancel", CancelAsync).WithName("CancelEmail")
            .Produces<SendEmailResponse>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Cancel an email not yet handed to the provider (409 otherwise).");
        return api;
    }

    /// <param name="Template">The template the content was rendered from (name), when sent with one.</param>
    /// <param name="TemplateVersion">Its version.</param>
    public sealed record SendEmailResponse(string Id, string Status, string? Template = null, int? TemplateVersion = null);

    private static async Task<IResult> SendAsync(
        HttpContext http, IEmailGateway gateway, IUserStore users, ISuppressionStore suppressions, ITemplateStore templates,
        TemplateRenderer renderer, TimeProvider clock)
    {
        var (request, bodyError) = await JsonBody.ReadAsync<SendEmailRequest>(http);
        if (bodyError is not null) return bodyError;

        var userId = http.User.UserId();
        // With a template, its rendering is the content (then validated as any content), and what the journal keeps.
        object requestedTemplate = new { request!.Template, request.TemplateVersion, request.Variables };
        TemplateUse? template = null;
        if (request.Template is not null || request.TemplateVersion is not null)
        {
            var (rendered, problem) = await RenderTemplateAsync(request, userId, templates, renderer, http.RequestAborted);
            if (problem is not null) return problem;
            template = rendered;
        }

        var user = string.IsNullOrWhiteSpace(request.From) ? await users.GetUserAsync(userId, http.RequestAborted) : null;
        var now = clock.GetUtcNow();
        var (content, errors) = EmailValidation.Validate(request, user?.DefaultFrom, now);
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength || idempotencyKey.Any(char.IsControl))
            errors["Idempotency-Key"] = new[] { $"at most {MaxIdempotencyKeyLength} printable characters" };
        if (errors.Count > 0 || content is null)
            return Results.ValidationProblem(errors, title: "The email is not valid", type: ProblemTypes.Validation);

        var key = string.IsNullOrEmpty(idempotencyKey) ? null : idempotencyKey;
        var emailId = key is null ? NewEmailId() : IdempotentEmailId(userId, key);
        var sendAt = request.SendAt is { } at && at > now ? at.ToUniversalTime() : (DateTimeOffset?)null;
        // A template's request is fingerprinted as the client wrote it (name, version asked, variables), not by its
        // rendering: a retry after the template changed is the same request, and finds the email it made.
        var fingerprint = key is null ? null
            : template is null ? Fingerprint(content, sendAt)
            : Fingerprint(content with { Subject = "", Text = null, Html = null }, sendAt, requestedTemplate);
        var suppressed = await suppressions.FindSuppressedAsync(userId, content.AllRecipients(), http.RequestAborted);

        var result = await gateway.AcceptAsync(new EmailSubmission(emailId, userId, content, key, fingerprint, sendAt,
            suppressed.Count == 0 ? null : suppressed.ToDictionary(), template), http.RequestAborted);
        return result switch
        {
            AcceptResult.Accepted a => Results.Accepted($"/api/emails/{a.EmailId}",
                new SendEmailResponse(a.EmailId, a.Status.ToWire(), template?.Name, template?.Version)),
            AcceptResult.IdempotencyConflict => Results.Problem(statusCode: 422, title: "Idempotency key reused", type: ProblemTypes.IdempotencyConflict,
                detail: "This Idempotency-Key was already used with a different request body."),
            _ => Unavailable(),
        };
    }

    /// <summary>Renders the request's template into its subject, text and html (and takes its variables out: they were
    /// the template's, not the provider's); or the 400 that names what is wrong.</summary>
    internal static async Task<(TemplateUse? Template, IResult? Problem)> RenderTemplateAsync(
        SendEmailRequest request, string userId, ITemplateStore templates, TemplateRenderer renderer, CancellationToken ct,
        IReadOnlyCollection<string>? recipientValues = null)
    {
        var errors = new Dictionary<string, string[]>();
        if (TemplateRenderer.NameProblem(request.Template) is { } nameProblem) errors["template"] = new[] { nameProblem };
        if (request.TemplateVersion is < 1) errors["templateVersion"] = new[] { "at least 1" };
        foreach (var (field, value) in new[] { ("subject", request.Subject), ("text", request.Text), ("html", request.Html) })
            if (value is not null) errors[field] = new[] { "comes from the template: give either a template or subject, text and html" };
        if (errors.Count > 0) return (null, Results.ValidationProblem(errors, title: "The email is not valid", type: ProblemTypes.Validation));

        var stored = await templates.GetAsync(userId, request.Template!, request.TemplateVersion, ct);
        if (stored is null)
            return (null, Results.ValidationProblem(new Dictionary<string, string[]>
            {
                [request.TemplateVersion is null ? "template" : "templateVersion"] = new[]
                {
                    request.TemplateVersion is null ? $"you have no template named '{request.Template}'"
                        : $"template '{request.Template}' has no version {request.TemplateVersion}",
                },
            }, title: "The email is not valid", type: ProblemTypes.Validation));

        var variables = request.Variables is null ? (JsonElement?)null : JsonSerializer.SerializeToElement(request.Variables);
        switch (await renderer.RenderAsync(stored.Definition, variables, recipientValues, ct))
        {
            case RenderResult.Rendered r:
                request.Subject = r.Subject;
                request.Text = r.Text;
                request.Html = r.Html;
                request.Variables = null;
                return (new TemplateUse(stored.Name, stored.Version), null);
            case RenderResult.Refused refused:
                return (null, TemplateEndpoints.Invalid(refused.Problems));
            default:
                throw new InvalidOperationException("unknown render result");
        }
    }

    /// <summary>The email if the caller may see it (<see cref="EmailAccess"/>); anyone else gets null (so 404).</summary>
    private static Task<EmailView?> VisibleAsync(string id, HttpContext http, IEmailReadStore store) =>
        http.RequestServices.GetRequiredService<EmailAccess>().FindAsync(http.User, id, http.RequestAborted);

    private static async Task<Results<Ok<EmailResponse>, ProblemHttpResult>> GetAsync(string id, HttpContext http, EmailAccess emails) =>
        await emails.FindAsync(http.User, id, http.RequestAborted) is { } view
            ? TypedResults.Ok(EmailResponse.Of(view))
            : Problems.NotFound("email", id);

    private static async Task<Results<Ok<EmailContentResponse>, ProblemHttpResult>> ContentAsync(
        string id, HttpContext http, EmailAccess emails, IEmailContentReader contents)
    {
        if (await emails.FindAsync(http.User, id, http.RequestAborted) is not { } view) return Problems.NotFound("email", id);
        // The view exists, so an email whose acceptance is no longer in the journal was compacted by retention.
        return TypedResults.Ok(await contents.ReadAsync(id, http.RequestAborted) is EmailContentResult.Accepted { Content: var content }
            ? EmailContentResponse.Of(id, content)
            : EmailContentResponse.Removed(id, view.Subject));
    }

    private static async Task<Results<Ok<IReadOnlyList<TimelineEntryResponse>>, ProblemHttpResult>> EventsAsync(
        string id, HttpContext http, EmailAccess emails) =>
        await emails.FindAsync(http.User, id, http.RequestAborted) is { } view
            ? TypedResults.Ok(TimelineEntryResponse.Of(view.Timeline))
            : Problems.NotFound("email", id);

    private static async Task<IResult> CancelAsync(string id, HttpContext http, IEmailReadStore store, IEmailGateway gateway)
    {
        if (await VisibleAsync(id, http, store) is null) return Problems.NotFound("email", id);
        return await gateway.CancelAsync(id, http.RequestAborted) switch
        {
            CancelResult.Cancelled => Results.Ok(new SendEmailResponse(id, EmailStatus.Cancelled.ToWire())),
            CancelResult.CannotCancel c => Results.Problem(statusCode: 409, title: "Too late to cancel", type: ProblemTypes.Conflict,
                detail: $"The email is {c.Status.ToWire()}: it was already handed to the provider."),
            CancelResult.Unavailable => Unavailable(),
            _ => Problems.NotFound("email", id),
        };
    }

    private static async Task<Results<Ok<EmailListResponse>, ValidationProblem>> ListAsync(
        HttpContext http, IEmailReadStore store, int? limit, string? cursor, string? status, string? recipient, string? tag,
        DateTimeOffset? createdAfter, DateTimeOffset? createdBefore, string? q)
    {
        var errors = new Dictionary<string, string[]>();
        var n = limit ?? 50;
        if (n is < 1 or > 200) errors["limit"] = new[] { "between 1 and 200" };
        var position = cursor is null ? null : ListPosition.TryDecode(cursor);
        if (cursor is not null && position is null) errors["cursor"] = new[] { "is not a cursor we gave" };
        if (status is not null && !StatusNames.TryParseEmailStatus(status, out _)) errors["status"] = new[] { $"unknown status '{Clip(status)}'" };
        if (recipient is { Length: > EmailValidation.MaxAddressLength }) errors["recipient"] = new[] { "too long" };
        if (tag is { Length: > EmailValidation.MaxTagLength }) errors["tag"] = new[] { "too long" };
        var search = EmailSearch.Parse(q);
        if (q is { Length: > EmailSearch.MaxQueryLength }) errors["q"] = new[] { $"at most {EmailSearch.MaxQueryLength} characters" };
        else if (!string.IsNullOrWhiteSpace(q) && search is null)
            errors["q"] = new[] { $"1 to {EmailSearch.MaxTerms} terms, each with a letter or digit" };
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The query is not valid", type: ProblemTypes.Validation);
        StatusNames.TryParseEmailStatus(status, out var parsed);
        var page = await store.ListAsync(new EmailQuery(http.User.UserId(), n, status is null ? null : parsed.ToWire(),
            recipient, tag, createdAfter, createdBefore, position) { Search = search }, http.RequestAborted);
        return TypedResults.Ok(new EmailListResponse(page.Items.Select(EmailResponse.Of).ToArray(), page.Next?.Encode()));
    }

    private static string Clip(string s) => s.Length > 40 ? s[..40] + "…" : s;

    private static IResult Unavailable() =>
        Results.Problem(statusCode: 503, title: "Busy", type: ProblemTypes.Unavailable,
            detail: "The service could not confirm the email in time; retry with the same Idempotency-Key.");

    public static string NewEmailId() => EmailIds.New();

    /// <summary>The same (user, key) always names the same email, so a retried POST reaches the same actor.</summary>
    public static string IdempotentEmailId(string userId, string key) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{userId}\n{key}")))[..32];

    private static string Fingerprint(EmailContent content, DateTimeOffset? sendAt) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { content, sendAt }, EmailEventSerializer.Json)));

    internal static string Fingerprint(EmailContent content, DateTimeOffset? sendAt, object template) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { content, sendAt, template }, EmailEventSerializer.Json)));
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using AkkaMail.Api.Auth;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Serialization;
using Microsoft.AspNetCore.Http.Metadata;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Api.Emails;

public static class EmailEndpoints
{
    public const long MaxBodyBytes = 15 * 1024 * 1024;
    public const int MaxIdempotencyKeyLength = 255;

    private static readonly JsonSerializerOptions RequestJson = new(JsonSerializerDefaults.Web) { MaxDepth = 16 };

    public static RouteGroupBuilder MapEmailEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/emails", SendAsync).WithName("SendEmail").WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes));
        // The path the original specification names.
        api.MapPost("/emails/send", SendAsync).WithName("SendEmailAlias").WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes));
        api.MapGet("/emails/{id}", GetAsync).WithName("GetEmail");
        return api;
    }

    private sealed class RequestSizeLimitMetadata(long max) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => max;
    }

    public sealed record SendEmailResponse(string Id, string Status);

    private static async Task<IResult> SendAsync(
        HttpContext http, IRequiredActor<EmailManagerActor> manager, AkkaMailSettings settings, ILoggerFactory loggers)
    {
        var log = loggers.CreateLogger("AkkaMail.Api.Emails");
        if (http.Request.ContentType is not { } ct || !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return Results.Problem(statusCode: 415, title: "Unsupported media type", type: ProblemTypes.UnsupportedMediaType,
                detail: "Send the email as JSON (Content-Type: application/json).");

        SendEmailRequest? request;
        byte[] body;
        try
        {
            using var ms = new MemoryStream();
            await http.Request.Body.CopyToAsync(ms, http.RequestAborted);
            body = ms.ToArray();
            request = JsonSerializer.Deserialize<SendEmailRequest>(body, RequestJson);
        }
        catch (JsonException ex)
        {
            return Results.Problem(statusCode: 400, title: "Malformed JSON", type: ProblemTypes.MalformedJson,
                detail: $"The body is not the JSON we expect{(ex.Path is { } p ? $" (at {p})" : "")}: {FirstLine(ex.Message)}");
        }
        catch (BadHttpRequestException ex)
        {
            return Results.Problem(statusCode: ex.StatusCode, title: "Bad request",
                type: ex.StatusCode == 413 ? ProblemTypes.PayloadTooLarge : ProblemTypes.MalformedJson, detail: ex.Message);
        }
        if (request is null)
            return Results.Problem(statusCode: 400, title: "Malformed JSON", type: ProblemTypes.MalformedJson, detail: "The body must be a JSON object.");

        var (content, errors) = EmailValidation.Validate(request);
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength || idempotencyKey.Any(char.IsControl))
            errors["Idempotency-Key"] = new[] { $"at most {MaxIdempotencyKeyLength} printable characters" };
        if (errors.Count > 0 || content is null)
            return Results.ValidationProblem(errors, title: "The email is not valid", type: ProblemTypes.Validation);

        var userId = http.User.UserId();
        var key = string.IsNullOrEmpty(idempotencyKey) ? null : idempotencyKey;
        var emailId = key is null ? NewEmailId() : IdempotentEmailId(userId, key);
        var fingerprint = key is null ? null : Fingerprint(content);

        var actor = await manager.GetAsync(http.RequestAborted);
        object reply;
        try
        {
            reply = await actor.Ask<object>(new EmailCommands.AcceptEmail(emailId, userId, content, key, fingerprint),
                settings.AskTimeout, http.RequestAborted);
        }
        catch (AskTimeoutException)
        {
            log.LogWarning("Email {EmailId}: no answer from its actor within {Timeout}", emailId, settings.AskTimeout);
            return Unavailable();
        }
        return reply switch
        {
            R.EmailAccepted a => Results.Accepted($"/api/emails/{a.EmailId}", new SendEmailResponse(a.EmailId, a.Status.ToWire())),
            R.IdempotencyConflict => Results.Problem(statusCode: 422, title: "Idempotency key reused", type: ProblemTypes.IdempotencyConflict,
                detail: "This Idempotency-Key was already used with a different request body."),
            _ => Unavailable(),
        };
    }

    private static async Task<IResult> GetAsync(string id, HttpContext http, IEmailReadStore store)
    {
        var view = id.Length <= 64 ? await store.GetAsync(id, http.RequestAborted) : null;
        if (view is null || (view.UserId != http.User.UserId() && !http.User.IsAdmin())) return NotFound(id);
        return Results.Ok(view);
    }

    public static IResult NotFound(string id) =>
        Results.Problem(statusCode: 404, title: "Not found", type: ProblemTypes.NotFound, detail: $"No email with id '{(id.Length > 64 ? id[..64] : id)}'.");

    private static IResult Unavailable() =>
        Results.Problem(statusCode: 503, title: "Busy", type: ProblemTypes.Unavailable,
            detail: "The service could not confirm the email in time; retry with the same Idempotency-Key.");

    public static string NewEmailId() => Guid.CreateVersion7().ToString("N");

    /// <summary>The same (user, key) always names the same email, so a retried POST reaches the same actor.</summary>
    public static string IdempotentEmailId(string userId, string key) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{userId}\n{key}")))[..32];

    private static string Fingerprint(EmailContent content) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(content, EmailEventSerializer.Json)));

    private static string FirstLine(string s) => s.Split('\n')[0];
}

using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using AkkaMail.Api.Auth;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;

namespace AkkaMail.Api.Emails;

/// <summary>The body of POST /api/emails/batch: one content (a template, or subject/text/html with
/// <c>%recipient.name%</c>) for many recipients, each with its own values.</summary>
public sealed class SendBatchRequest
{
    public string? From { get; set; }
    public string? ReplyTo { get; set; }
    public string? Subject { get; set; }
    public string? Text { get; set; }
    public string? Html { get; set; }
    public List<string?>? Tags { get; set; }
    public Dictionary<string, string?>? Headers { get; set; }
    public DateTimeOffset? SendAt { get; set; }
    /// <summary>A stored template; <c>{{ recipient.name }}</c> in it is each recipient's own <c>name</c>.</summary>
    public string? Template { get; set; }
    public int? TemplateVersion { get; set; }
    /// <summary>The template's variables shared by every recipient (any JSON values); only with a template.</summary>
    public Dictionary<string, JsonElement>? Variables { get; set; }
    public List<BatchRecipientRequest?>? Recipients { get; set; }
}

public sealed class BatchRecipientRequest
{
    public string? To { get; set; }
    /// <summary>This recipient's own values (strings), seen by this recipient only.</summary>
    public Dictionary<string, JsonElement>? Variables { get; set; }
}

/// <summary>One email of a batch: up to <see cref="BatchEndpoints.RecipientsPerEmail"/> recipients, each with its own fate.</summary>
public sealed record BatchEmailResponse(string Id, string Status, int Recipients);

/// <summary>A batch, accepted: its emails (one per 1,000 recipients), in the order of the recipients.</summary>
public sealed record SendBatchResponse(IReadOnlyList<BatchEmailResponse> Emails, int Recipients, string? Template, int? TemplateVersion);

/// <summary>
/// Personalised batch sending. The content is rendered once; each recipient's own values travel beside it and are
/// substituted by the provider (Mailgun's <c>recipient-variables</c>), so 1,000 recipients cost one email actor, one
/// journal entry and one provider call, and each recipient sees only its own address. Lists longer than
/// <see cref="RecipientsPerEmail"/> (Mailgun's limit per call) become several emails.
/// </summary>
public static partial class BatchEndpoints
{
    public const int RecipientsPerEmail = Mailgun.MailgunMessage.MaxRecipients;
    public const int MaxRecipients = 10_000;
    public const int MaxValuesPerRecipient = 20;
    public const int MaxValueLength = 1000;
    /// <summary>Mailgun's 25 MB per message, for one email's content and its recipients' values.</summary>
    public const int MaxMessageBytes = 25 * 1024 * 1024;

    private static int Encoding(string? s) => s is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(s);

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    private static partial Regex ValueName();

    public static RouteHandlerBuilder MapBatchEndpoint(this RouteGroupBuilder api) =>
        api.MapPost("/emails/batch", SendBatchAsync).WithName("SendBatch")
            .WithMetadata(new RequestSizeLimitMetadata(EmailEndpoints.MaxBodyBytes))
            .RequireRateLimiting(RateLimits.SendPolicy).Accepts<SendBatchRequest>("application/json")
            .Produces<SendBatchResponse>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Send one content (a template, or subject/text/html with %recipient.name%) to up to 10,000 recipients, " +
                         "each with its own values and seeing only its own address: one email per 1,000 recipients.");

    private static async Task<IResult> SendBatchAsync(
        HttpContext http, IEmailGateway gateway, IUserStore users, ISuppressionStore suppressions, ITemplateStore templates,
        TemplateRenderer renderer, TimeProvider clock)
    {
        var (batch, bodyError) = await JsonBody.ReadAsync<SendBatchRequest>(http);
        if (bodyError is not null) return bodyError;
        var userId = http.User.UserId();

        var errors = new Dictionary<string, string[]>();
        var recipients = ReadRecipients(batch!.Recipients, errors);
        if (batch.Template is null && batch.Variables is not null)
            errors["variables"] = new[] { "shared variables are a template's: without a template use each recipient's variables" };
        if (errors.Count > 0) return Invalid(errors);

        var names = recipients.SelectMany(r => r.Values.Keys).ToHashSet(StringComparer.Ordinal);
        // The common part, validated and rendered once, as one email to the first recipient.
        var request = new SendEmailRequest
        {
            From = batch.From, To = new List<string?> { recipients[0].To }, ReplyTo = batch.ReplyTo, Subject = batch.Subject,
            Text = batch.Text, Html = batch.Html, Tags = batch.Tags, Headers = batch.Headers, SendAt = batch.SendAt,
            Template = batch.Template, TemplateVersion = batch.TemplateVersion, Variables = batch.Variables,
        };
        TemplateUse? template = null;
        if (batch.Template is not null || batch.TemplateVersion is not null)
        {
            var (rendered, problem) = await EmailEndpoints.RenderTemplateAsync(request, userId, templates, renderer, http.RequestAborted, names);
            if (problem is not null) return problem;
            template = rendered;
        }
        var user = string.IsNullOrWhiteSpace(request.From) ? await users.GetUserAsync(userId, http.RequestAborted) : null;
        var now = clock.GetUtcNow();
        var (common, contentErrors) = EmailValidation.Validate(request, user?.DefaultFrom, now);
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > EmailEndpoints.MaxIdempotencyKeyLength || idempotencyKey.Any(char.IsControl))
            contentErrors["Idempotency-Key"] = new[] { $"at most {EmailEndpoints.MaxIdempotencyKeyLength} printable characters" };
        if (contentErrors.Count > 0 || common is null) return Invalid(contentErrors);

        var key = string.IsNullOrEmpty(idempotencyKey) ? null : idempotencyKey;
        var sendAt = request.SendAt is { } at && at > now ? at.ToUniversalTime() : (DateTimeOffset?)null;
        // Values substituted into html are HTML-escaped, under their own names (the text part gets them as they are).
        var htmlNames = common.Html is { } html
            ? names.Where(n => html.Contains($"%recipient.{TemplateRenderer.HtmlValuePrefix}{n}%", StringComparison.Ordinal)).ToHashSet()
            : new HashSet<string>();

        // Every part is built and checked before the first is accepted: a batch is refused whole, never half sent.
        var parts = recipients.Chunk(RecipientsPerEmail).Select(chunk => (Chunk: chunk, Content: common with
        {
            To = chunk.Select(r => r.To).ToArray(),
            RecipientVariables = chunk.ToDictionary(r => r.Address, r => WithHtmlValues(r.Values, htmlNames), StringComparer.Ordinal),
        })).ToList();
        for (var i = 0; i < parts.Count; i++)
        {
            var content = parts[i].Content;
            var size = Encoding(content.Subject) + Encoding(content.Text) + Encoding(content.Html)
                       + JsonSerializer.SerializeToUtf8Bytes(content.RecipientVariables).Length;
            if (size > MaxMessageBytes)
                return Invalid(new Dictionary<string, string[]>
                {
                    ["recipients"] = new[] { $"the content and the values of recipients {i * RecipientsPerEmail}-{i * RecipientsPerEmail + parts[i].Chunk.Length - 1} " +
                                             $"come to {size} bytes, over Mailgun's {MaxMessageBytes / 1024 / 1024} MB per message: send fewer values or smaller ones" },
                });
        }

        var emails = new List<BatchEmailResponse>();
        for (var part = 0; part < parts.Count; part++)
        {
            var (chunk, content) = parts[part];
            // With a key, each part is an email of its own key: a retried batch reaches the same emails, part by part.
            var partKey = key is null ? null : $"{key}\nbatch part {part}";
            var emailId = partKey is null ? EmailEndpoints.NewEmailId() : EmailEndpoints.IdempotentEmailId(userId, partKey);
            var fingerprint = partKey is null ? null : EmailEndpoints.Fingerprint(
                template is null ? content : content with { Subject = "", Text = null, Html = null }, sendAt,
                new { batch.Template, batch.TemplateVersion, batch.Variables });
            var suppressed = await suppressions.FindSuppressedAsync(userId, content.AllRecipients(), http.RequestAborted);
            var result = await gateway.AcceptAsync(new EmailSubmission(emailId, userId, content, partKey, fingerprint, sendAt,
                suppressed.Count == 0 ? null : suppressed.ToDictionary(), template), http.RequestAborted);
            switch (result)
            {
                case AcceptResult.Accepted a:
                    emails.Add(new BatchEmailResponse(a.EmailId, a.Status.ToWire(), chunk.Length));
                    break;
                case AcceptResult.IdempotencyConflict:
                    return Results.Problem(statusCode: 422, title: "Idempotency key reused", type: ProblemTypes.IdempotencyConflict,
                        detail: "This Idempotency-Key was already used with a different batch.");
                default:
                    return Results.Problem(statusCode: 503, title: "Busy", type: ProblemTypes.Unavailable,
                        detail: $"{emails.Count} of the batch's emails were accepted before the service could not confirm the next in time; " +
                                "retry with the same Idempotency-Key (accepted parts are not sent twice).");
            }
        }
        return Results.Accepted((string?)null, new SendBatchResponse(emails, recipients.Count, template?.Name, template?.Version));
    }

    private sealed record Recipient(string To, string Address, IReadOnlyDictionary<string, string> Values);

    private static List<Recipient> ReadRecipients(List<BatchRecipientRequest?>? list, Dictionary<string, string[]> errors)
    {
        var recipients = new List<Recipient>();
        if (list is null || list.Count == 0) { errors["recipients"] = new[] { "at least one recipient is required" }; return recipients; }
        if (list.Count > MaxRecipients) { errors["recipients"] = new[] { $"at most {MaxRecipients} recipients per batch" }; return recipients; }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count && errors.Count < 50; i++)
        {
            var r = list[i];
            var field = $"recipients[{i}]";
            if (r?.To is not { } to || EmailValidation.ControlCharacter(to, allowTab: false) is not null || !EmailValidation.IsAddress(to))
            {
                errors[$"{field}.to"] = new[] { "must be a valid email address" };
                continue;
            }
            var address = Addresses.Normalize(to);
            if (!seen.Add(address)) { errors[$"{field}.to"] = new[] { $"'{address}' is already a recipient of this batch" }; continue; }
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            if (r.Variables is { } given)
            {
                if (given.Count > MaxValuesPerRecipient) errors[$"{field}.variables"] = new[] { $"at most {MaxValuesPerRecipient} values" };
                foreach (var (name, value) in given)
                {
                    if (!ValueName().IsMatch(name))
                        errors[$"{field}.variables.{(name.Length > 40 ? name[..40] : name)}"] = new[] { "names are a letter, then letters, digits or '_' (at most 64)" };
                    else if (value.ValueKind != JsonValueKind.String || value.GetString()!.Length > MaxValueLength
                             || EmailValidation.ControlCharacter(value.GetString()!, allowTab: true) is not null)
                        errors[$"{field}.variables.{name}"] = new[] { $"must be a string of at most {MaxValueLength} characters, no control characters" };
                    else values[name] = value.GetString()!;
                }
            }
            recipients.Add(new Recipient(to.Trim(), address, values));
        }
        return recipients;
    }

    private static IReadOnlyDictionary<string, string> WithHtmlValues(IReadOnlyDictionary<string, string> values, HashSet<string> htmlNames)
    {
        if (htmlNames.Count == 0) return values;
        var all = new Dictionary<string, string>(values, StringComparer.Ordinal);
        foreach (var name in htmlNames)
            all[TemplateRenderer.HtmlValuePrefix + name] = WebUtility.HtmlEncode(values.GetValueOrDefault(name, ""));
        return all;
    }

    private static IResult Invalid(Dictionary<string, string[]> errors) =>
        Results.ValidationProblem(errors, title: "The batch is not valid", type: ProblemTypes.Validation);
}

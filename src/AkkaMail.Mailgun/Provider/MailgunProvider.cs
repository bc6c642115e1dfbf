using AkkaMail.Domain;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Mailgun.Provider;

/// <summary>
/// Sends through Mailgun's HTTP API. Every message carries <c>v:email-id</c> (our id), so Mailgun's webhooks find
/// their email through <c>user-variables</c>; the provider message id (without angle brackets) is the fallback.
/// Mailgun has no idempotency key: a retry (attempt 2 and later) first asks the events API whether Mailgun accepted a
/// message carrying this <c>v:email-id</c> (an earlier attempt that timed out or lost its connection after Mailgun took
/// it) and, if so, answers <c>sent</c> with that message's id instead of sending again.
/// </summary>
public sealed class MailgunProvider(MailgunClient client, ILogger<MailgunProvider> log, TimeProvider? clock = null) : IEmailProvider, IAcceptanceLookup
{
    /// <summary>How far back a retry looks for an earlier acceptance: longer than the retry deadline (24 h by default).</summary>
    public static readonly TimeSpan LookBack = TimeSpan.FromDays(3);

    /// <summary>The <c>v:</c> variable that carries our email id; a user variable of the same name is ignored.</summary>
    public const string EmailIdVariable = "email-id";

    public const string ProviderName = "mailgun";

    public string Name => ProviderName;

    private static readonly IReadOnlyDictionary<string, string> EmptyValues = new Dictionary<string, string>();

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        MailgunMessage message;
        try
        {
            message = ToMessage(email);
        }
        catch (FormatException ex)
        {
            // The API validated the base64 before accepting; a corrupt journal entry must not be retried forever.
            return new SendOutcome.Permanent($"mailgun: attachment is not valid base64: {ex.Message}");
        }

        if (email.Attempt > 1 && await FindEarlierAcceptanceAsync(email, ct) is { } earlier)
            return new SendOutcome.Sent(earlier, ProviderName);

        MailgunSendResult result;
        try
        {
            result = await client.SendAsync(message, ct);
        }
        catch (ArgumentException ex)
        {
            // Mailgun's own limits (tags, recipients per call): the same message will never be accepted.
            return new SendOutcome.Permanent("mailgun: " + ex.Message);
        }

        switch (result)
        {
            case MailgunSendResult.Accepted a:
                log.LogDebug("Email {EmailId}: Mailgun accepted attempt {Attempt} as {MessageId}", email.EmailId, email.Attempt, a.MessageId);
                return new SendOutcome.Sent(a.MessageId, ProviderName);
            case MailgunSendResult.TransientFailure t:
                log.LogWarning("Email {EmailId}: Mailgun attempt {Attempt} failed transiently ({Status}): {Reason}",
                    email.EmailId, email.Attempt, t.StatusCode, t.Reason);
                return new SendOutcome.Transient(t.StatusCode is { } s ? $"mailgun {s}: {t.Reason}" : "mailgun: " + t.Reason, t.RetryAfter);
            case MailgunSendResult.PermanentFailure p:
                log.LogWarning("Email {EmailId}: Mailgun refused attempt {Attempt} ({Status}): {Reason}",
                    email.EmailId, email.Attempt, p.StatusCode, p.Reason);
                return new SendOutcome.Permanent($"mailgun {p.StatusCode}: {p.Reason}");
            default:
                return new SendOutcome.Transient("mailgun: unexpected result " + result.GetType().Name);
        }
    }

    public Task<string?> FindAcceptedAsync(OutgoingEmail email, CancellationToken ct) => FindEarlierAcceptanceAsync(email, ct);

    /// <summary>The message id of an earlier attempt Mailgun accepted; null when it has none, or when the events API could
    /// not be asked (then the attempt is sent: a lost email is worse than a rare duplicate).</summary>
    private async Task<string?> FindEarlierAcceptanceAsync(OutgoingEmail email, CancellationToken ct)
    {
        var since = (clock ?? TimeProvider.System).GetUtcNow() - LookBack;
        switch (await client.FindEventAsync("accepted", EmailIdVariable, email.EmailId, since, ct))
        {
            case MailgunEventLookup.Found found:
                log.LogInformation("Email {EmailId}: Mailgun accepted an earlier attempt as {MessageId} (event {EventId}); attempt {Attempt} not sent again",
                    email.EmailId, found.MessageId, found.EventId, email.Attempt);
                return found.MessageId;
            case MailgunEventLookup.Failed failed:
                log.LogWarning("Email {EmailId}: could not ask Mailgun's events whether an earlier attempt was accepted ({Status}: {Reason}); sending attempt {Attempt}",
                    email.EmailId, failed.StatusCode, failed.Reason, email.Attempt);
                return null;
            default:
                return null;
        }
    }

    /// <summary>Maps what the client sent to Mailgun's fields (public for tests).</summary>
    public static MailgunMessage ToMessage(OutgoingEmail email)
    {
        var c = email.Content;
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in c.Variables)
            if (!string.Equals(k, EmailIdVariable, StringComparison.OrdinalIgnoreCase))
                variables[k] = v;
        variables[EmailIdVariable] = email.EmailId;

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in c.Headers)
            if (!(c.ReplyTo is not null && string.Equals(k, "Reply-To", StringComparison.OrdinalIgnoreCase)))
                headers[k] = v;

        return new MailgunMessage
        {
            From = c.From,
            To = c.To,
            Cc = c.Cc,
            Bcc = c.Bcc,
            ReplyTo = c.ReplyTo,
            Subject = c.Subject,
            Text = c.Text,
            Html = c.Html,
            Tags = c.Tags,
            Headers = headers,
            Variables = variables,
            Attachments = c.Attachments
                .Select(a => new MailgunAttachment(a.FileName, a.ContentType, Convert.FromBase64String(a.ContentBase64)))
                .ToArray(),
            // A batch names every recipient it is sent to (those left out, e.g. suppressed, are not): each sees only
            // its own address and values.
            RecipientVariables = c.RecipientVariables is { } perRecipient
                ? c.To.Select(Addresses.Normalize).Distinct(StringComparer.Ordinal).ToDictionary(a => a,
                    a => perRecipient.TryGetValue(a, out var values) ? values : EmptyValues, StringComparer.Ordinal)
                : null,
        };
    }
}

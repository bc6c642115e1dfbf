using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace AkkaMail.Smtp.Provider;

/// <summary>
/// Sends through an SMTP server. SMTP has no webhooks, so the server's answers are all we ever learn: a transaction the
/// server took is <c>sent</c>, each recipient it took is reported <c>accepted_by_provider</c>, each it refused with a 5xx
/// <c>permanent_failure</c> (through the gateway, as a webhook would); a 4xx reply, a timeout or a lost connection is
/// transient and nothing went out. A bounce that arrives later by mail is not read.
/// </summary>
public sealed class SmtpProvider(SmtpSender sender, IEmailGateway gateway, ILogger<SmtpProvider> log) : IEmailProvider
{
    public const string ProviderName = "smtp";

    public string Name => ProviderName;

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        var messageId = MessageIdOf(email);
        IReadOnlyList<MimeMessage> messages;
        try
        {
            messages = ToMessages(email, messageId);
        }
        catch (Exception ex) when (ex is FormatException or ParseException)
        {
            // The API validated addresses and base64 before accepting; a corrupt journal entry must not be retried forever.
            return new SendOutcome.Permanent("smtp: the message cannot be built: " + ex.Message);
        }

        var accepted = new List<string>();
        var refused = new List<SmtpRefusedRecipient>();
        var deferred = new List<(string Address, string Reason)>();
        for (var i = 0; i < messages.Count; i++)
        {
            var result = await sender.SendAsync(messages[i], ct);
            switch (result)
            {
                case SmtpSendResult.Accepted a:
                    accepted.AddRange(a.AcceptedRecipients);
                    refused.AddRange(a.Refused);
                    break;
                case SmtpSendResult.TransientFailure t when i == 0:
                    log.LogWarning("Email {EmailId}: SMTP attempt {Attempt} failed transiently ({Code}): {Reason}",
                        email.EmailId, email.Attempt, t.Code, t.Reason);
                    return new SendOutcome.Transient(t.Code is { } c ? $"smtp {c}: {t.Reason}" : "smtp: " + t.Reason);
                case SmtpSendResult.TransientFailure t:
                    // A batch's later recipient: the others have their message already, so the email is not retried.
                    deferred.AddRange(messages[i].To.Mailboxes.Select(m => (m.Address, t.Reason)));
                    break;
                case SmtpSendResult.PermanentFailure p when messages.Count == 1:
                    log.LogWarning("Email {EmailId}: SMTP server refused attempt {Attempt} ({Code}): {Reason}",
                        email.EmailId, email.Attempt, p.Code, p.Reason);
                    if (p.Refused.Count > 0) _ = ReportAsync(email.EmailId, email.Attempt, messageId, [], p.Refused, []);
                    return new SendOutcome.Permanent($"smtp {p.Code}: {p.Reason}");
                case SmtpSendResult.PermanentFailure p:
                    refused.AddRange(p.Refused.Count > 0 ? p.Refused
                        : messages[i].To.Mailboxes.Select(m => new SmtpRefusedRecipient(m.Address, p.Code, p.Reason)));
                    break;
            }
        }
        if (accepted.Count == 0 && deferred.Count == 0)
            return new SendOutcome.Permanent("smtp: every recipient was refused");
        _ = ReportAsync(email.EmailId, email.Attempt, messageId, accepted, refused, deferred);
        return new SendOutcome.Sent(messageId, ProviderName);
    }

    /// <summary>Unique per attempt, in the sender's domain when it has one.</summary>
    public static string MessageIdOf(OutgoingEmail email)
    {
        var domain = MailboxAddress.TryParse(email.Content.From, out var from) && from.Domain is { Length: > 0 } d ? d : "akkamail.local";
        return $"{email.EmailId}.{email.Attempt}@{domain}";
    }

    /// <summary>One message for the email; for a batch, one per recipient with its own values, as Mailgun sends them.</summary>
    public static IReadOnlyList<MimeMessage> ToMessages(OutgoingEmail email, string messageId)
    {
        if (email.Content.RecipientVariables is not { } perRecipient) return [MimeBuilder.Build(email, messageId)];
        var c = email.Content;
        return c.To.Select(to =>
        {
            var address = Addresses.Normalize(to);
            var values = perRecipient.TryGetValue(address, out var v) ? v : new Dictionary<string, string>();
            var own = email with
            {
                Content = c with
                {
                    To = [to], Cc = [], Bcc = [], RecipientVariables = null,
                    Subject = RecipientSubstitution.Apply(c.Subject, values)!,
                    Text = RecipientSubstitution.Apply(c.Text, values), Html = RecipientSubstitution.Apply(c.Html, values),
                },
            };
            return MimeBuilder.Build(own, messageId);
        }).ToArray();
    }

    private async Task ReportAsync(string emailId, int attempt, string messageId, IReadOnlyList<string> accepted,
        IReadOnlyList<SmtpRefusedRecipient> refused, IReadOnlyList<(string Address, string Reason)> deferred)
    {
        try
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var r in accepted)
                await Report(emailId, new ProviderEvent($"smtp-acc-{emailId}-{attempt}-{r}", ProviderEventKind.Accepted, r, now, messageId,
                    Provider: ProviderName));
            foreach (var r in refused)
                await Report(emailId, new ProviderEvent($"smtp-rej-{emailId}-{attempt}-{r.Address}", ProviderEventKind.PermanentFailure,
                    r.Address, now, messageId, Reason: "refused", Code: r.Code, Description: Truncate(r.Reply), Provider: ProviderName));
            foreach (var (address, reason) in deferred)
                await Report(emailId, new ProviderEvent($"smtp-def-{emailId}-{attempt}-{address}", ProviderEventKind.TemporaryFailure,
                    address, now, messageId, Reason: "not sent", Description: Truncate(reason), Provider: ProviderName));
        }
        catch (Exception ex)
        {
            log.LogWarning(ex, "SMTP provider could not report the recipients of email {EmailId}", emailId);
        }
    }

    private async Task Report(string emailId, ProviderEvent evt)
    {
        if (await gateway.ApplyProviderEventAsync(emailId, evt) is ProviderEventResult.Unavailable u)
            log.LogWarning("SMTP provider could not report {Kind} for {Recipient} of email {EmailId}: {Reason}", evt.Kind, evt.Recipient, emailId, u.Reason);
    }

    private static string Truncate(string s) => s.Length <= 1000 ? s : s[..1000] + "…";
}

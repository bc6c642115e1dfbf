using AkkaMail.Domain;
using AkkaMail.Gateway;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace AkkaMail.Providers;

/// <summary>
/// The embedded default provider: writes each message as a real .eml file into the outbox, answers "accepted",
/// then reports each recipient accepted and, after a delay, delivered — through the gateway, as a webhook does.
/// </summary>
public sealed class SandboxProvider(
    string outboxPath, TimeSpan deliveryDelay, IEmailGateway gateway, ILogger<SandboxProvider> log) : IEmailProvider
{
    public string Name => "sandbox";

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        var messageId = $"{email.EmailId}.{email.Attempt}@sandbox.akkamail.local";
        Hosting.PrivateFiles.CreateDirectory(outboxPath);
        if (email.Content.RecipientVariables is { } perRecipient)
        {
            // A batch, as Mailgun sends it: one message per recipient, showing only its address, with its values.
            foreach (var to in email.Content.To)
            {
                var address = Addresses.Normalize(to);
                var values = perRecipient.TryGetValue(address, out var v) ? v : new Dictionary<string, string>();
                var c = email.Content;
                var own = email with
                {
                    Content = c with
                    {
                        To = new[] { to }, Cc = Array.Empty<string>(), Bcc = Array.Empty<string>(),
                        Subject = RecipientSubstitution.Apply(c.Subject, values)!,
                        Text = RecipientSubstitution.Apply(c.Text, values), Html = RecipientSubstitution.Apply(c.Html, values),
                    },
                };
                await WriteAsync(MimeBuilder.Build(own, messageId), $"{email.EmailId}.{FileSafe(address)}.eml", ct);
            }
        }
        else
        {
            await WriteAsync(MimeBuilder.Build(email, messageId), $"{email.EmailId}.eml", ct);
        }
        _ = ReportAsync(email, messageId);
        // No provider recorded: the sandbox stands in for any provider, so that reports of another (Mailgun's webhooks,
        // posted by hand or by tests) still apply to its emails.
        return new SendOutcome.Sent(messageId);
    }

    private async Task WriteAsync(MimeMessage mime, string fileName, CancellationToken ct)
    {
        var path = Path.Combine(outboxPath, fileName);
        var tmp = path + ".tmp";
        await using (var file = Hosting.PrivateFiles.Open(tmp, FileMode.Create, FileAccess.Write))
            await mime.WriteToAsync(file, ct);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Removes every file the sandbox wrote for the email (<c>{id}.eml</c>, a batch's <c>{id}.{address}.eml</c>);
    /// the count removed. Nothing when the outbox does not exist.</summary>
    public static int RemoveOutboxFiles(string outboxPath, string emailId)
    {
        if (!Directory.Exists(outboxPath) || emailId.Length == 0 || emailId.IndexOfAny(['.', '/', '\\', '*', '?']) >= 0) return 0;
        var removed = 0;
        foreach (var path in Directory.EnumerateFiles(outboxPath, emailId + ".*"))
        {
            var name = Path.GetFileName(path);
            // {id}.eml, or {id}.{address}.eml (an address has an '@'): never another id that only starts alike.
            if (name != emailId + ".eml" && !(name.EndsWith(".eml", StringComparison.Ordinal) && name.IndexOf('@') > emailId.Length)) continue;
            File.Delete(path);
            removed++;
        }
        return removed;
    }

    /// <summary>An address as part of a file name: anything but letters, digits, '@', '.', '+', '-', '_' becomes '_'.</summary>
    public static string FileSafe(string address) =>
        new(address.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '@' or '.' or '+' or '-' or '_' ? ch : '_').ToArray());

    private async Task ReportAsync(OutgoingEmail email, string messageId)
    {
        try
        {
            var recipients = email.Content.AllRecipients();
            var now = DateTimeOffset.UtcNow;
            foreach (var r in recipients)
                await Report(email.EmailId,
                    new ProviderEvent($"sbx-acc-{email.EmailId}-{r}", ProviderEventKind.Accepted, r, now, messageId, Provider: Name));
            await Task.Delay(deliveryDelay);
            now = DateTimeOffset.UtcNow;
            foreach (var r in recipients)
                await Report(email.EmailId,
                    new ProviderEvent($"sbx-dlv-{email.EmailId}-{r}", ProviderEventKind.Delivered, r, now, messageId,
                        Code: 250, Description: "OK (sandbox)", Provider: Name));
        }
        catch (Exception ex)
        {
            log.LogWarning(ex, "Sandbox could not report events for email {EmailId}", email.EmailId);
        }
    }

    private async Task Report(string emailId, ProviderEvent evt)
    {
        if (await gateway.ApplyProviderEventAsync(emailId, evt) is ProviderEventResult.Unavailable u)
            log.LogWarning("Sandbox could not report {Kind} for {Recipient} of email {EmailId}: {Reason}", evt.Kind, evt.Recipient, emailId, u.Reason);
    }
}

public static class MimeBuilder
{
    public static MimeMessage Build(OutgoingEmail email, string messageId)
    {
        var c = email.Content;
        var m = new MimeMessage { Subject = c.Subject, MessageId = messageId };
        m.From.Add(MailboxAddress.Parse(c.From));
        m.To.AddRange(c.To.Select(MailboxAddress.Parse));
        m.Cc.AddRange(c.Cc.Select(MailboxAddress.Parse));
        m.Bcc.AddRange(c.Bcc.Select(MailboxAddress.Parse));
        if (c.ReplyTo is not null) m.ReplyTo.Add(MailboxAddress.Parse(c.ReplyTo));
        foreach (var (k, v) in c.Headers) m.Headers.Add(k, v);
        m.Headers.Add("X-AkkaMail-Email-Id", email.EmailId);
        if (c.Tags.Count > 0) m.Headers.Add("X-AkkaMail-Tags", string.Join(", ", c.Tags));
        var body = new BodyBuilder { TextBody = c.Text, HtmlBody = c.Html };
        foreach (var a in c.Attachments)
            body.Attachments.Add(a.FileName, Convert.FromBase64String(a.ContentBase64), ContentType.Parse(a.ContentType));
        m.Body = body.ToMessageBody();
        return m;
    }
}

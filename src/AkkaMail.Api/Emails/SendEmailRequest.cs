using System.Text.Json;
using System.Text.RegularExpressions;
using AkkaMail.Domain;
using MimeKit;

namespace AkkaMail.Api.Emails;

/// <summary>The body of POST /api/emails.</summary>
public sealed class SendEmailRequest
{
    public string? From { get; set; }
    public List<string?>? To { get; set; }
    public List<string?>? Cc { get; set; }
    public List<string?>? Bcc { get; set; }
    public string? ReplyTo { get; set; }
    public string? Subject { get; set; }
    public string? Text { get; set; }
    public string? Html { get; set; }
    public List<string?>? Tags { get; set; }
    public Dictionary<string, string?>? Headers { get; set; }
    /// <summary>Without a template: strings that come back in the provider's webhooks (Mailgun <c>v:</c> fields, which
    /// recipients can read in the message). With a template: the template's variables, any JSON values, used to render
    /// it and not sent to the provider.</summary>
    public Dictionary<string, JsonElement>? Variables { get; set; }
    /// <summary>The name of a stored template to render instead of subject, text and html.</summary>
    public string? Template { get; set; }
    /// <summary>The template's version; the latest when absent.</summary>
    public int? TemplateVersion { get; set; }
    public List<AttachmentRequest?>? Attachments { get; set; }
    /// <summary>Send later: ISO 8601 with an offset (UTC recommended), at most 7 days ahead.</summary>
    public DateTimeOffset? SendAt { get; set; }
}

public sealed class AttachmentRequest
{
    public string? FileName { get; set; }
    public string? ContentType { get; set; }
    /// <summary>The file's bytes, base64.</summary>
    public string? Content { get; set; }
}

/// <summary>Checks a request field by field; every bad field is named, with what is wrong with it.</summary>
public static partial class EmailValidation
{
    public const int MaxRecipients = 1000;
    public const int MaxTags = 3;
    public const int MaxSubjectLength = 998;
    public const int MaxTagLength = 128;
    public const int MaxHeaders = 50;
    public const int MaxVariables = 50;
    public const int MaxAttachmentBytes = 10 * 1024 * 1024;
    public const int MaxAddressLength = 320;
    /// <summary>Mailgun's 16 KB for a call's o:, h:, v: and t: parameters, less 1 KB for the ones we add.</summary>
    public const int MaxOptionBytes = 15 * 1024;
    public static readonly TimeSpan MaxScheduleAhead = TimeSpan.FromDays(7);

    // Headers we set ourselves or that would let a client forge routing.
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "From", "To", "Cc", "Bcc", "Subject", "Reply-To", "Message-Id", "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Date" };

    [GeneratedRegex("^[!-9;-~]+$")] // RFC 5322 field name: printable ASCII except colon
    private static partial Regex HeaderName();

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex VariableName();

    public static (EmailContent? Content, Dictionary<string, string[]> Errors) Validate(SendEmailRequest r) =>
        Validate(r, null, DateTimeOffset.UtcNow);

    /// <param name="defaultFrom">The user's default sender, used when the request has no <c>from</c>.</param>
    public static (EmailContent? Content, Dictionary<string, string[]> Errors) Validate(SendEmailRequest r, string? defaultFrom, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(r.From) && defaultFrom is not null) r.From = defaultFrom;
        var errors = new Dictionary<string, List<string>>();
        void Add(string field, string message)
        {
            if (!errors.TryGetValue(field, out var list)) errors[field] = list = new List<string>();
            list.Add(message);
        }

        if (string.IsNullOrWhiteSpace(r.From)) Add("from", "is required");
        else if (ControlCharacter(r.From, allowTab: false) is { } fromControl) Add("from", fromControl);
        else if (!IsAddress(r.From)) Add("from", $"'{Clip(r.From)}' is not a valid email address");

        var to = CheckAddressList("to", r.To, required: true, Add);
        var cc = CheckAddressList("cc", r.Cc, required: false, Add);
        var bcc = CheckAddressList("bcc", r.Bcc, required: false, Add);
        if (to.Count + cc.Count + bcc.Count > MaxRecipients)
            Add("to", $"at most {MaxRecipients} recipients in all (to, cc and bcc)");

        if (r.ReplyTo is not null && ControlCharacter(r.ReplyTo, allowTab: false) is { } replyToControl) Add("replyTo", replyToControl);
        else if (r.ReplyTo is not null && !IsAddress(r.ReplyTo)) Add("replyTo", $"'{Clip(r.ReplyTo)}' is not a valid email address");

        if (string.IsNullOrWhiteSpace(r.Subject)) Add("subject", "is required");
        else if (r.Subject.Length > MaxSubjectLength) Add("subject", $"at most {MaxSubjectLength} characters");
        else if (r.Subject.Contains('\r') || r.Subject.Contains('\n')) Add("subject", "must be one line");
        else if (ControlCharacter(r.Subject, allowTab: true) is { } subjectControl) Add("subject", subjectControl);

        if (string.IsNullOrEmpty(r.Text) && string.IsNullOrEmpty(r.Html)) Add("text", "text or html is required");

        var tags = new List<string>();
        if (r.Tags is not null)
        {
            if (r.Tags.Count > MaxTags) Add("tags", $"at most {MaxTags} tags (Mailgun's limit)");
            for (var i = 0; i < r.Tags.Count; i++)
            {
                var t = r.Tags[i];
                if (string.IsNullOrWhiteSpace(t)) Add($"tags[{i}]", "must be a non-empty string");
                else if (t.Length > MaxTagLength || t.Any(ch => ch < 0x20 || ch > 0x7e)) Add($"tags[{i}]", $"printable ASCII, at most {MaxTagLength} characters");
                else tags.Add(t);
            }
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (r.Headers is not null)
        {
            if (r.Headers.Count > MaxHeaders) Add("headers", $"at most {MaxHeaders} headers");
            foreach (var (k, v) in r.Headers)
            {
                if (!HeaderName().IsMatch(k)) Add($"headers.{Clip(k, 40)}", "is not a valid header name");
                else if (ReservedHeaders.Contains(k)) Add($"headers.{k}", "is set by AkkaMail from the request's fields");
                else if (v is null || v.Contains('\r') || v.Contains('\n') || v.Length > 998) Add($"headers.{k}", "must be one line of at most 998 characters");
                else if (ControlCharacter(v, allowTab: true) is { } headerControl) Add($"headers.{k}", headerControl);
                else headers[k] = v;
            }
        }

        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.Variables is not null)
        {
            if (r.Variables.Count > MaxVariables) Add("variables", $"at most {MaxVariables} variables");
            foreach (var (k, v) in r.Variables)
            {
                if (!VariableName().IsMatch(k) || k.Length > 64) Add($"variables.{Clip(k, 40)}", "names are letters, digits, '_', '-', '.' (at most 64)");
                else if (k.Equals("email-id", StringComparison.OrdinalIgnoreCase)) Add($"variables.{k}", "is reserved");
                else if (v.ValueKind != JsonValueKind.String || v.GetString()!.Length > 4096) Add($"variables.{k}", "must be a string of at most 4096 characters");
                else variables[k] = v.GetString()!;
            }
        }

        var attachments = new List<EmailAttachment>();
        if (r.Attachments is not null)
        {
            long total = 0;
            for (var i = 0; i < r.Attachments.Count; i++)
            {
                var a = r.Attachments[i];
                var f = $"attachments[{i}]";
                if (a is null) { Add(f, "must be an object"); continue; }
                if (string.IsNullOrWhiteSpace(a.FileName) || a.FileName.Length > 255 || a.FileName.IndexOfAny(new[] { '/', '\\', '\r', '\n', '\0' }) >= 0
                    || ControlCharacter(a.FileName, allowTab: false) is not null)
                    Add($"{f}.fileName", "is required: a plain file name of at most 255 characters");
                var contentType = string.IsNullOrWhiteSpace(a.ContentType) ? "application/octet-stream" : a.ContentType;
                if (!ContentType.TryParse(contentType, out _)) Add($"{f}.contentType", "is not a valid MIME type");
                if (a.Content is null) { Add($"{f}.content", "is required (base64)"); continue; }
                var buffer = new byte[a.Content.Length * 3 / 4 + 3];
                if (!Convert.TryFromBase64String(a.Content, buffer, out var size)) { Add($"{f}.content", "is not valid base64"); continue; }
                total += size;
                if (a.FileName is not null) attachments.Add(new EmailAttachment(a.FileName, contentType, a.Content));
            }
            if (total > MaxAttachmentBytes) Add("attachments", $"at most {MaxAttachmentBytes / 1024 / 1024} MB in all");
        }

        // Mailgun limits every o:, h:, v: and t: parameter of a call to 16 KB together; ours (v:email-id, h:Reply-To) are
        // kept room for, so a message the API accepts is one Mailgun accepts.
        var optionBytes = headers.Sum(h => Utf8(h.Key) + Utf8(h.Value)) + variables.Sum(v => Utf8(v.Key) + Utf8(v.Value)) + tags.Sum(Utf8);
        if (optionBytes > MaxOptionBytes)
            Add("headers", $"headers, variables and tags together at most {MaxOptionBytes} bytes (Mailgun's 16 KB limit on a message's options), are {optionBytes}");

        if (r.SendAt is { } sendAt && sendAt - now > MaxScheduleAhead)
            Add("sendAt", $"at most {MaxScheduleAhead.TotalDays:0} days ahead");

        if (errors.Count > 0) return (null, errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
        return (new EmailContent(r.From!.Trim(), to, cc, bcc, r.ReplyTo?.Trim(), r.Subject!, r.Text, r.Html, tags, headers,
            variables, attachments), new Dictionary<string, string[]>());
    }

    private static List<string> CheckAddressList(string field, List<string?>? list, bool required, Action<string, string> add)
    {
        var ok = new List<string>();
        if (list is null || list.Count == 0)
        {
            if (required) add(field, "at least one address is required");
            return ok;
        }
        if (list.Count > MaxRecipients) { add(field, $"at most {MaxRecipients} recipients"); return ok; }
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a is not null && ControlCharacter(a, allowTab: false) is { } control) add($"{field}[{i}]", control);
            else if (a is null || !IsAddress(a)) add($"{field}[{i}]", $"'{Clip(a)}' is not a valid email address");
            else ok.Add(a.Trim());
        }
        return ok;
    }

    /// <summary>
    /// Why <paramref name="s"/> is refused for a control character, or null: C0 controls (NUL, VT, FF, ESC…; TAB only
    /// where <paramref name="allowTab"/>: it is folding white space in a subject or header value), DEL, C1 controls
    /// (U+0080-U+009F, NEL U+0085 among them) and the Unicode line and paragraph separators U+2028, U+2029. Mail
    /// software treats several of them as line breaks or string ends: in a header they forge or cut fields.
    /// </summary>
    public static string? ControlCharacter(string s, bool allowTab)
    {
        foreach (var c in s)
        {
            if (c == '\t' && allowTab) continue;
            if (c < 0x20 || c is >= '\u007f' and <= '\u009f' or '\u2028' or '\u2029')
                return $"must not contain control characters (U+{(int)c:X4})";
        }
        return null;
    }

    /// <summary>An RFC 5322 mailbox ("a@b.c" or "Name &lt;a@b.c&gt;"), one only, with a domain.</summary>
    public static bool IsAddress(string? s)
    {
        if (string.IsNullOrWhiteSpace(s) || s.Length > MaxAddressLength || s.Contains('\r') || s.Contains('\n')) return false;
        if (!MailboxAddress.TryParse(ParserOptions.Default, s, out var mailbox)) return false;
        var at = mailbox.Address.LastIndexOf('@');
        return at > 0 && at < mailbox.Address.Length - 1 && !mailbox.Address.Contains(' ');
    }

    private static int Utf8(string s) => System.Text.Encoding.UTF8.GetByteCount(s);

    private static string Clip(string? s, int max = 80) => s is null ? "null" : s.Length <= max ? s : s[..max] + "…";
}

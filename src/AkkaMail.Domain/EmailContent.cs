namespace AkkaMail.Domain;

/// <summary>What the client asked us to send. Immutable once accepted.</summary>
public sealed record EmailContent(
    string From,
    IReadOnlyList<string> To,
    IReadOnlyList<string> Cc,
    IReadOnlyList<string> Bcc,
    string? ReplyTo,
    string Subject,
    string? Text,
    string? Html,
    IReadOnlyList<string> Tags,
    IReadOnlyDictionary<string, string> Headers,
    IReadOnlyDictionary<string, string> Variables,
    IReadOnlyList<EmailAttachment> Attachments)
{
    /// <summary>
    /// A personalised batch: each recipient's own values (bare lower-case address → name → value), substituted for
    /// <c>%recipient.name%</c> in subject, text and html, one message per recipient, each showing only its own address
    /// (Mailgun's <c>recipient-variables</c>). Null for an ordinary email, and in journals written before batches.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? RecipientVariables { get; init; }

    /// <summary>The bytes of what retention's bodies period removes: text, HTML, attachments (as held, base64) and a batch's
    /// recipient variables, in UTF-8. The storage figures count them per email.</summary>
    public long BodyBytes()
    {
        static long Utf8(string? s) => s is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(s);
        var bytes = Utf8(Text) + Utf8(Html);
        foreach (var a in Attachments) bytes += Utf8(a.FileName) + Utf8(a.ContentType) + Utf8(a.ContentBase64);
        if (RecipientVariables is not null)
            foreach (var (address, values) in RecipientVariables)
            {
                bytes += Utf8(address);
                foreach (var (name, value) in values) bytes += Utf8(name) + Utf8(value);
            }
        return bytes;
    }

    /// <summary>Every address the provider will report on: to, cc and bcc, each once, in that order.</summary>
    public IReadOnlyList<string> AllRecipients() =>
        To.Concat(Cc).Concat(Bcc).Select(Addresses.Normalize).Distinct(StringComparer.Ordinal).ToArray();
}

/// <summary>Mailgun's batch substitution, as a pure function: <c>%recipient.name%</c> → the recipient's value; a name the
/// recipient has no value for is left as written.</summary>
public static class RecipientSubstitution
{
    public static string? Apply(string? text, IReadOnlyDictionary<string, string> values)
    {
        if (text is null || values.Count == 0 || !text.Contains("%recipient.", StringComparison.Ordinal)) return text;
        var b = new System.Text.StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var start = text.IndexOf("%recipient.", i, StringComparison.Ordinal);
            if (start < 0) break;
            var end = text.IndexOf('%', start + 11);
            if (end < 0) break;
            b.Append(text, i, start - i);
            var name = text.Substring(start + 11, end - start - 11);
            if (values.TryGetValue(name, out var value)) { b.Append(value); i = end + 1; }
            else { b.Append(text, start, end - start); i = end; }
        }
        return b.Append(text, i, text.Length - i).ToString();
    }
}

/// <summary>Which stored template, at which version, an email's content was rendered from.</summary>
public sealed record TemplateUse(string Name, int Version);

public sealed record EmailAttachment(string FileName, string ContentType, string ContentBase64);

public static class Addresses
{
    /// <summary>
    /// The bare, lower-cased addr-spec of "Name &lt;a@b&gt;", "a@b" or "a@b (Comment)": the key under which a recipient's
    /// fate and a suppression are kept, since the provider reports recipients without display names or comments.
    /// RFC 5322 comments (parenthesised, nestable, outside quoted strings) are dropped, then the angle-addr is taken
    /// when there is one, and whitespace outside quoted strings removed: for every address the API accepts, what
    /// MimeKit's parsed <c>MailboxAddress.Address</c> is, lower-cased.
    /// </summary>
    public static string Normalize(string address)
    {
        var s = address.IndexOf('(') >= 0 ? WithoutComments(address) : address;
        s = s.Trim();
        var lt = s.LastIndexOf('<');
        var gt = s.LastIndexOf('>');
        if (lt >= 0 && gt > lt) s = s[(lt + 1)..gt];
        s = s.Trim();
        if (s.IndexOf(' ') >= 0 || s.IndexOf('\t') >= 0) s = WithoutUnquotedWhitespace(s);
        return s.ToLowerInvariant();
    }

    private static string WithoutComments(string s)
    {
        var b = new System.Text.StringBuilder(s.Length);
        int depth = 0;
        var quoted = false;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\' && (quoted || depth > 0) && i + 1 < s.Length)
            {
                if (depth == 0) b.Append(c).Append(s[i + 1]);
                i++;
            }
            else if (depth == 0 && c == '"') { quoted = !quoted; b.Append(c); }
            else if (!quoted && c == '(') depth++;
            else if (!quoted && c == ')' && depth > 0) depth--;
            else if (depth == 0) b.Append(c);
        }
        return b.ToString();
    }

    private static string WithoutUnquotedWhitespace(string s)
    {
        var b = new System.Text.StringBuilder(s.Length);
        var quoted = false;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (quoted && c == '\\' && i + 1 < s.Length) { b.Append(c).Append(s[++i]); continue; }
            if (c == '"') quoted = !quoted;
            if (!quoted && c is ' ' or '\t') continue;
            b.Append(c);
        }
        return b.ToString();
    }
}

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
    /// <summary>Every address the provider will report on: to, cc and bcc, each once, in that order.</summary>
    public IReadOnlyList<string> AllRecipients() =>
        To.Concat(Cc).Concat(Bcc).Select(Addresses.Normalize).Distinct(StringComparer.Ordinal).ToArray();
}

public sealed record EmailAttachment(string FileName, string ContentType, string ContentBase64);

public static class Addresses
{
    /// <summary>
    /// The bare, lower-cased address of "Name &lt;a@b&gt;" or "a@b": the key under which a recipient's fate is
    /// kept, since the provider reports recipients without display names.
    /// </summary>
    public static string Normalize(string address)
    {
        var s = address.Trim();
        var lt = s.LastIndexOf('<');
        var gt = s.LastIndexOf('>');
        if (lt >= 0 && gt > lt) s = s[(lt + 1)..gt];
        return s.Trim().ToLowerInvariant();
    }
}

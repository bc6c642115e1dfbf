namespace AkkaMail.MailgunFake;

/// <summary>Just enough address parsing for the fake: lists, display names, a plausibility check.</summary>
public static class FakeAddress
{
    /// <summary>Splits "a@x, Bob &lt;b@y&gt;, \"Doe, Jane\" &lt;j@z&gt;" on commas outside quotes and angle brackets.</summary>
    public static IEnumerable<string> SplitList(string value)
    {
        var start = 0;
        bool quoted = false, angled = false;
        for (var i = 0; i < value.Length; i++)
        {
            switch (value[i])
            {
                case '"': quoted = !quoted; break;
                case '<' when !quoted: angled = true; break;
                case '>' when !quoted: angled = false; break;
                case ',' when !quoted && !angled:
                    var part = value[start..i].Trim();
                    if (part.Length > 0) yield return part;
                    start = i + 1;
                    break;
            }
        }
        var last = value[start..].Trim();
        if (last.Length > 0) yield return last;
    }

    /// <summary>The bare address of "Name &lt;addr&gt;", "addr" or "addr (Comment)", or null when it does not look like one.</summary>
    public static string? Bare(string value)
    {
        var s = WithoutComments(value).Trim();
        var lt = s.LastIndexOf('<');
        if (lt >= 0)
        {
            var gt = s.IndexOf('>', lt);
            if (gt < 0) return null;
            s = s[(lt + 1)..gt].Trim();
        }
        var at = s.LastIndexOf('@');
        if (at <= 0 || at == s.Length - 1) return null;
        foreach (var c in s) if (char.IsWhiteSpace(c) || c is '<' or '>' or ',') return null;
        return s;
    }

    /// <summary>Drops RFC 5322 comments: parenthesised (nestable) text outside quoted strings.</summary>
    private static string WithoutComments(string value)
    {
        if (value.IndexOf('(') < 0) return value;
        var b = new System.Text.StringBuilder(value.Length);
        var depth = 0;
        var quoted = false;
        foreach (var c in value)
        {
            if (depth == 0 && c == '"') { quoted = !quoted; b.Append(c); }
            else if (!quoted && c == '(') depth++;
            else if (!quoted && c == ')' && depth > 0) depth--;
            else if (depth == 0) b.Append(c);
        }
        return b.ToString();
    }
}

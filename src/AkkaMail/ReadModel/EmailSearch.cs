using System.Text;

namespace AkkaMail.ReadModel;

/// <summary>
/// What search indexes of an email and how a query reads, the same for every store: text is cut into tokens (runs of
/// letters and digits, lower case; everything else separates), so <c>bob@example.com</c> is the tokens bob, example,
/// com. A query is up to <see cref="MaxTerms"/> whitespace-separated terms, all of which must match; a term matches
/// when its tokens appear in this order, next to each other, the last one as a prefix (<c>ord</c> finds order,
/// <c>bob@exa</c> finds bob@example.com). Stores that cannot check adjacency say so (MongoDB).
/// </summary>
public static class EmailSearch
{
    public const int MaxQueryLength = 200;
    public const int MaxTerms = 8;

    /// <summary>The text indexed for a view: our id, subject, sender, recipients (to, cc, bcc and every reported one),
    /// tags, provider message id and the values of the chosen headers (<see cref="EmailView.SearchHeaders"/>), as tokens
    /// separated by spaces. Never bodies.</summary>
    public static string TextOf(EmailView v)
    {
        var sb = new StringBuilder(256);
        void Add(string? s)
        {
            if (string.IsNullOrEmpty(s)) return;
            foreach (var t in Tokens(s)) sb.Append(t).Append(' ');
        }
        Add(v.Id);
        Add(v.Subject);
        Add(v.From);
        foreach (var a in v.To.Concat(v.Cc).Concat(v.Bcc).Concat(v.Recipients.Select(r => r.Address)).Distinct(StringComparer.OrdinalIgnoreCase))
            Add(a);
        foreach (var t in v.Tags) Add(t);
        Add(v.ProviderMessageId);
        if (v.SearchHeaders is { } headers)
            foreach (var value in headers.Values) Add(value);
        return sb.ToString().TrimEnd();
    }

    /// <summary>The distinct tokens of a view (MongoDB keeps them as an array).</summary>
    public static string[] TokensOf(EmailView v) => TextOf(v).Split(' ', StringSplitOptions.RemoveEmptyEntries).Distinct().ToArray();

    public static IEnumerable<string> Tokens(string text)
    {
        var sb = new StringBuilder();
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch)) sb.Append(char.ToLowerInvariant(ch));
            else if (sb.Length > 0)
            {
                yield return sb.ToString();
                sb.Clear();
            }
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    /// <summary>The terms of a query, each as its tokens; null when it has none (only separators), or is too long.</summary>
    public static IReadOnlyList<IReadOnlyList<string>>? Parse(string? q)
    {
        if (string.IsNullOrWhiteSpace(q) || q.Length > MaxQueryLength) return null;
        var terms = q.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(t => (IReadOnlyList<string>)Tokens(t).ToArray())
            .Where(t => t.Count > 0)
            .ToArray();
        return terms.Length is 0 or > MaxTerms ? null : terms;
    }

    /// <summary>SQLite FTS5: each term a prefix phrase (<c>"bob example com"*</c>), terms ANDed. Tokens hold only
    /// letters and digits, so nothing in them needs quoting.</summary>
    public static string ToFts5(IReadOnlyList<IReadOnlyList<string>> terms) =>
        string.Join(" AND ", terms.Select(t => "\"" + string.Join(' ', t) + "\"*"));

    /// <summary>PostgreSQL tsquery (config <c>simple</c>): each term its tokens followed-by (<c>&lt;-&gt;</c>), the last a
    /// prefix (<c>:*</c>), terms ANDed.</summary>
    public static string ToTsQuery(IReadOnlyList<IReadOnlyList<string>> terms) =>
        string.Join(" & ", terms.Select(t => "(" + string.Join(" <-> ", t.Select((tok, i) => i == t.Count - 1 ? tok + ":*" : tok)) + ")"));
}

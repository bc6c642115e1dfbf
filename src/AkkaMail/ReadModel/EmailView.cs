using AkkaMail.Domain;

namespace AkkaMail.ReadModel;

/// <summary>The read model's document for one email: what GET /api/emails/{id} answers.</summary>
public sealed record EmailView(
    string Id,
    string UserId,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string From,
    IReadOnlyList<string> To,
    IReadOnlyList<string> Cc,
    IReadOnlyList<string> Bcc,
    string Subject,
    IReadOnlyList<string> Tags,
    string? ProviderMessageId,
    int Attempt,
    DateTimeOffset? SendAt,
    DateTimeOffset? NextAttemptAt,
    string? FailureReason,
    IReadOnlyList<RecipientView> Recipients,
    IReadOnlyList<TimelineView> Timeline,
    long Version)
{
    /// <summary>Send phase, kept for the dispatch sweep (not shown to clients).</summary>
    public string Phase { get; init; } = "";

    /// <summary>The template (name, version) the content was rendered from; null for content given as it is.</summary>
    public TemplateUse? Template { get; init; }

    /// <summary>When nothing more was to be sent (null while unsettled): the retention job's index (not shown to clients).
    /// Rows stored before it existed have none until the read model is rebuilt.</summary>
    public DateTimeOffset? SettledAt { get; init; }

    /// <summary>The values of the headers chosen for search (<c>akkamail.read-model.search-headers</c>), by header name;
    /// null when none is chosen or the email has none of them. Indexed by <see cref="EmailSearch"/> (not shown to clients).</summary>
    public IReadOnlyDictionary<string, string>? SearchHeaders { get; init; }

    /// <summary>Whether the email was sent from or to <paramref name="normalizedAddress"/> (any recipient field).</summary>
    public bool Involves(string normalizedAddress)
    {
        bool Is(string a) => string.Equals(Addresses.Normalize(a), normalizedAddress, StringComparison.OrdinalIgnoreCase);
        return Is(From) || To.Any(Is) || Cc.Any(Is) || Bcc.Any(Is) || Recipients.Any(r => Is(r.Address));
    }
    /// <summary>The provider whose reports are still awaited (<see cref="EmailState.AwaitsProviderReport"/>): sent through it,
    /// some recipient without a final fate, not yet marked "no report". Null otherwise. The reconciliation job's index (not
    /// shown to clients); rows stored before it existed have none until they change or the read model is rebuilt.</summary>
    public string? AwaitingReportFrom { get; init; }

    /// <summary>The size of the email's bodies as accepted (<see cref="EmailState.BodyBytes"/>): the storage figures (not shown to
    /// clients). 0 in views of states recovered from snapshots written before it existed.</summary>
    public long BodyBytes { get; init; }

    /// <summary>When retention removed the bodies from the journal (<see cref="EmailState.BodiesRemovedAt"/>): from then on
    /// <see cref="BodyBytes"/> count as removed, not held. The retention job also marks the stored row at once (no event
    /// tells the projection), and a store never clears the mark (a removal is never undone).</summary>
    public DateTimeOffset? BodiesRemovedAt { get; init; }

    /// <summary>When the email awaiting reports went out (with <see cref="AwaitingReportFrom"/>): the job's age check.</summary>
    public DateTimeOffset? AwaitingReportSince { get; init; }

    /// <param name="searchHeaders">Names of the headers whose values <see cref="SearchHeaders"/> keeps (ignoring case).</param>
    public static EmailView Of(EmailState s, IReadOnlyCollection<string>? searchHeaders = null) => new(
        s.EmailId,
        s.UserId ?? "",
        s.Status.ToWire(),
        s.AcceptedAt ?? DateTimeOffset.MinValue,
        s.UpdatedAt ?? s.AcceptedAt ?? DateTimeOffset.MinValue,
        s.Content?.From ?? "",
        s.Content?.To ?? Array.Empty<string>(),
        s.Content?.Cc ?? Array.Empty<string>(),
        s.Content?.Bcc ?? Array.Empty<string>(),
        s.Content?.Subject ?? "",
        s.Content?.Tags ?? Array.Empty<string>(),
        s.ProviderMessageId,
        s.Attempt,
        s.SendAt,
        s.Phase == SendPhase.RetryWaiting ? s.NextAttemptAt : null,
        s.Phase == SendPhase.SendFailed ? s.FailureReason : null,
        s.Recipients.Values.Select(r => new RecipientView(
            r.Address, r.Status.ToWire(), r.StatusAt, r.Reason, r.Code, r.Opens, r.Clicks, r.Complained, r.Unsubscribed,
            r.Engagements.Where(e => e.Kind == "clicked" && e.Url is not null).Select(e => e.Url!).Distinct().ToArray())).ToArray(),
        s.Timeline.Select(t => new TimelineView(t.At, EmailEventTypes.Current(t.Type, t.Recipient), t.Recipient, t.Detail, t.Provider)).ToArray(),
        s.Version)
    {
        Phase = s.Phase.ToString(),
        Template = s.Template,
        SettledAt = s.IsSettled ? s.SettledAt ?? s.UpdatedAt ?? s.AcceptedAt : null,
        AwaitingReportFrom = s.AwaitsProviderReport ? s.Provider : null,
        AwaitingReportSince = s.AwaitsProviderReport ? s.SettledAt ?? s.UpdatedAt ?? s.AcceptedAt : null,
        BodyBytes = s.BodyBytes,
        BodiesRemovedAt = s.BodiesRemovedAt,
        SearchHeaders = ChosenHeaders(s.Content?.Headers, searchHeaders),
    };

    private static IReadOnlyDictionary<string, string>? ChosenHeaders(IReadOnlyDictionary<string, string>? headers, IReadOnlyCollection<string>? names)
    {
        if (headers is null || names is null || names.Count == 0 || headers.Count == 0) return null;
        var chosen = headers.Where(h => names.Contains(h.Key, StringComparer.OrdinalIgnoreCase)).ToDictionary(h => h.Key, h => h.Value);
        return chosen.Count == 0 ? null : chosen;
    }

    /// <summary>This view with its timeline in the names of <see cref="EmailEventTypes"/> (a stored view may predate
    /// them); itself when nothing changes.</summary>
    public EmailView WithCurrentEventTypes() =>
        Timeline.Any(t => EmailEventTypes.Current(t.Type, t.Recipient) != t.Type)
            ? this with { Timeline = Timeline.Select(t => t with { Type = EmailEventTypes.Current(t.Type, t.Recipient) }).ToArray() }
            : this;
}

public sealed record RecipientView(
    string Address, string Status, DateTimeOffset? StatusAt, string? Reason, int? Code,
    int Opens, int Clicks, bool Complained, bool Unsubscribed, IReadOnlyList<string> ClickedUrls);

/// <param name="Provider">See <see cref="TimelineEntry.Provider"/>; null in views stored before it existed.</param>
public sealed record TimelineView(DateTimeOffset At, string Type, string? Recipient, string? Detail, string? Provider = null);

/// <summary>The read side: emails as clients query them. Writes are idempotent and version-guarded.</summary>
public interface IEmailReadStore
{
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>Upserts each view unless the stored one has an equal or higher version.</summary>
    Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default);

    Task<EmailView?> GetAsync(string id, CancellationToken ct = default);

    Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default);

    /// <summary>A user's emails, newest first (created time, then id), filtered, one page after the cursor.</summary>
    Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default);

    /// <summary>Emails whose send is not settled (queued, scheduled, sending, retrying), for the dispatch sweep.</summary>
    Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default);

    /// <summary>Settled emails in order of (settled time, id), settled after <paramref name="after"/> (exclusive) and at or
    /// before <paramref name="upTo"/>, for the retention job.</summary>
    Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default);

    /// <summary>Emails still awaiting <paramref name="provider"/>'s reports (<see cref="EmailView.AwaitingReportFrom"/>), in
    /// order of (sent time, id), after <paramref name="after"/> (exclusive) and sent at or before <paramref name="sentUpTo"/>,
    /// for the reconciliation job.</summary>
    Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
        CancellationToken ct = default);

    /// <summary>Removes these emails' views (retention, erasure): they are gone from the journal too.</summary>
    Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default);
    /// <summary>Erasure: the emails (of <paramref name="userId"/>, or of every user when null) sent to or from
    /// <paramref name="address"/> (from, to, cc, bcc), in id order after <paramref name="afterId"/>; up to
    /// <paramref name="limit"/> rows are looked at per page (<see cref="AddressPage.Next"/>: where the next page starts).
    /// A scan of the user's rows (or the table's): erasure is rare.</summary>
    Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default);
}

/// <summary>A page of <see cref="IEmailReadStore.FindByAddressAsync"/>: the matching ids, and the id to continue after
/// (null: no more rows).</summary>
public sealed record AddressPage(IReadOnlyList<string> Ids, string? Next)
{
    /// <summary>The page of the candidate rows a store's query found (each store narrows by the address's domain, which
    /// its JSON encoding never escapes), keeping the views that really name the address.</summary>
    public static AddressPage Of(IReadOnlyList<EmailView> candidates, string normalizedAddress, int limit) => new(
        candidates.Where(v => v.Involves(normalizedAddress)).Select(v => v.Id).ToList(),
        candidates.Count >= limit ? candidates[^1].Id : null);

    /// <summary>The part after the last '@', lower case: what a store's query narrows the candidates by.</summary>
    public static string DomainOf(string normalizedAddress) =>
        normalizedAddress[(normalizedAddress.LastIndexOf('@') + 1)..].ToLowerInvariant();
}

/// <summary>A position in the order of settling: (settled time in ms, id).</summary>
public sealed record SettledPosition(long SettledAtMs, string Id)
{
    public static readonly SettledPosition Start = new(long.MinValue, "");

    public static SettledPosition Of(DateTimeOffset at) => new(at.ToUnixTimeMilliseconds(), "");
}

/// <summary>A position in the order of sending: (sent time in ms, id).</summary>
public sealed record SentPosition(long SentAtMs, string Id)
{
    public static readonly SentPosition Start = new(long.MinValue, "");

    public DateTimeOffset SentAt => DateTimeOffset.FromUnixTimeMilliseconds(SentAtMs);
}

/// <summary>Filters for listing a user's emails. <paramref name="After"/> is the last row of the previous page.</summary>
public sealed record EmailQuery(
    string UserId,
    int Limit,
    string? Status = null,
    string? Recipient = null,
    string? Tag = null,
    DateTimeOffset? CreatedAfter = null,
    DateTimeOffset? CreatedBefore = null,
    ListPosition? After = null)
{
    /// <summary>The search terms (<see cref="EmailSearch.Parse"/>): every one must match; null for no search.</summary>
    public IReadOnlyList<IReadOnlyList<string>>? Search { get; init; }
}

/// <summary>A position in the newest-first order: (created time in ms, id). Rows inserted later with a newer
/// time sort before it, so paging on never skips or repeats a row that existed when paging began.</summary>
public sealed record ListPosition(long CreatedAtMs, string Id)
{
    public string Encode() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{CreatedAtMs}:{Id}"))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static ListPosition? TryDecode(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor) || cursor.Length > 200) return null;
        try
        {
            var b64 = cursor.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var text = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(b64));
            var colon = text.IndexOf(':');
            return colon > 0 && long.TryParse(text[..colon], out var ms) && colon < text.Length - 1
                ? new ListPosition(ms, text[(colon + 1)..]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

public sealed record EmailPage(IReadOnlyList<EmailView> Items, ListPosition? Next);

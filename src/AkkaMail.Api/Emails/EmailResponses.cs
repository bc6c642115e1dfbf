using AkkaMail.ReadModel;

namespace AkkaMail.Api.Emails;

/// <summary>
/// One email as clients see it: GET /api/emails/{id} and the items of GET /api/emails. Mapped from the read model's
/// document (<see cref="EmailView"/>), which also carries what stays inside the service: the owner's user id and the
/// send phase of the dispatch sweep. A change of the read model changes no client's contract unless it is mapped here.
/// </summary>
public sealed record EmailResponse(
    string Id,
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
    IReadOnlyList<RecipientResponse> Recipients,
    IReadOnlyList<TimelineEntryResponse> Timeline,
    long Version,
    string? Template,
    int? TemplateVersion)
{
    public static EmailResponse Of(EmailView v) => new(
        v.Id, v.Status, v.CreatedAt, v.UpdatedAt, v.From, v.To, v.Cc, v.Bcc, v.Subject, v.Tags, v.ProviderMessageId,
        v.Attempt, v.SendAt, v.NextAttemptAt, v.FailureReason,
        v.Recipients.Select(RecipientResponse.Of).ToArray(),
        TimelineEntryResponse.Of(v.Timeline),
        v.Version,
        v.Template?.Name,
        v.Template?.Version);
}

/// <summary>One recipient's fate: its delivery status and its engagement (opens, clicks, complaint, unsubscribe).</summary>
public sealed record RecipientResponse(
    string Address, string Status, DateTimeOffset? StatusAt, string? Reason, int? Code,
    int Opens, int Clicks, bool Complained, bool Unsubscribed, IReadOnlyList<string> ClickedUrls)
{
    public static RecipientResponse Of(RecipientView r) => new(
        r.Address, r.Status, r.StatusAt, r.Reason, r.Code, r.Opens, r.Clicks, r.Complained, r.Unsubscribed, r.ClickedUrls);
}

/// <summary>One event of an email's timeline (GET /api/emails/{id}/events, and <c>timeline</c> in the email).</summary>
/// <param name="Provider">The provider a send went through or a report came from (<c>mailgun</c>, <c>smtp</c>,
/// <c>sandbox</c>); null for our own steps and for what was recorded before providers were.</param>
public sealed record TimelineEntryResponse(DateTimeOffset At, string Type, string? Recipient, string? Detail, string? Provider)
{
    public static IReadOnlyList<TimelineEntryResponse> Of(IReadOnlyList<TimelineView> timeline) =>
        timeline.Select(t => new TimelineEntryResponse(t.At, t.Type, t.Recipient, t.Detail, t.Provider)).ToArray();
}

/// <summary>A page of GET /api/emails: newest first; <c>nextCursor</c> fetches the next page (null on the last).</summary>
public sealed record EmailListResponse(IReadOnlyList<EmailResponse> Items, string? NextCursor);

/// <summary>The message of GET /api/emails/{id}/content, as accepted: subject and bodies (null once retention removed
/// them, <c>bodiesRemoved</c>), and each attachment's name, type and size (never its bytes).</summary>
public sealed record EmailContentResponse(
    string Id, string Subject, string? Text, string? Html, bool BodiesRemoved, IReadOnlyList<AttachmentSummaryResponse> Attachments)
{
    public static EmailContentResponse Of(string id, AkkaMail.Domain.EmailContent c) => new(
        id, c.Subject, c.Text, c.Html, false,
        c.Attachments.Select(a => new AttachmentSummaryResponse(a.FileName, a.ContentType, a.ContentBase64.Length / 4 * 3)).ToArray());

    public static EmailContentResponse Removed(string id, string subject) => new(id, subject, null, null, true, []);
}

public sealed record AttachmentSummaryResponse(string FileName, string ContentType, int ApproximateSize);

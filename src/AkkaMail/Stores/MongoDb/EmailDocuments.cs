using AkkaMail.ReadModel;
using MongoDB.Bson;

namespace AkkaMail.Stores.MongoDb;

/// <summary>Field names of a document in the <c>emails</c> collection.</summary>
public static class EmailFields
{
    public const string Id = "_id";
    public const string UserId = "UserId";
    public const string Status = "Status";
    public const string Phase = "Phase";
    public const string CreatedAt = "CreatedAt";
    public const string UpdatedAt = "UpdatedAt";
    public const string From = "From";
    public const string To = "To";
    public const string Cc = "Cc";
    public const string Bcc = "Bcc";
    public const string Subject = "Subject";
    public const string Tags = "Tags";
    public const string ProviderMessageId = "ProviderMessageId";
    public const string Attempt = "Attempt";
    public const string SendAt = "SendAt";
    public const string NextAttemptAt = "NextAttemptAt";
    public const string FailureReason = "FailureReason";
    public const string Recipients = "Recipients";
    public const string RecipientAddress = "Recipients.Address";
    public const string Timeline = "Timeline";
    public const string Version = "Version";
    public const string Template = "Template";
    public const string SettledAt = "SettledAt";
    public const string AwaitingReportFrom = "AwaitingReportFrom";
    public const string AwaitingReportSince = "AwaitingReportSince";
    public const string BodyBytes = "BodyBytes";
    public const string BodiesRemovedAt = "BodiesRemovedAt";
    /// <summary>The document's own BSON size (without this field), for the storage figures.</summary>
    public const string ViewBytes = "ViewBytes";
    public const string SearchHeaders = "SearchHeaders";
    /// <summary>The distinct search tokens (<see cref="EmailSearch.TokensOf"/>), a multikey index.</summary>
    public const string SearchTokens = "SearchTokens";
}

/// <summary>
/// <see cref="EmailView"/> ↔ BSON, as pure functions. The view is stored as a plain document (the fields we filter
/// on are the view's own fields: UserId, Status, Phase, CreatedAt, Tags, Recipients.Address, ProviderMessageId).
/// Times are BSON dates: UTC, millisecond precision (the same precision the SQLite store filters and pages on).
/// </summary>
public static class EmailDocumentMapper
{
    public static BsonDocument ToBson(EmailView v)
    {
        var doc = Fields(v);
        doc[EmailFields.ViewBytes] = (long)doc.ToBson().Length;
        return doc;
    }

    private static BsonDocument Fields(EmailView v) => new()
    {
        { EmailFields.Id, v.Id },
        { EmailFields.UserId, v.UserId },
        { EmailFields.Status, v.Status },
        { EmailFields.Phase, v.Phase },
        { EmailFields.CreatedAt, Date(v.CreatedAt) },
        { EmailFields.UpdatedAt, Date(v.UpdatedAt) },
        { EmailFields.From, v.From },
        { EmailFields.To, Strings(v.To) },
        { EmailFields.Cc, Strings(v.Cc) },
        { EmailFields.Bcc, Strings(v.Bcc) },
        { EmailFields.Subject, v.Subject },
        { EmailFields.Tags, Strings(v.Tags) },
        { EmailFields.ProviderMessageId, Nullable(v.ProviderMessageId) },
        { EmailFields.Attempt, v.Attempt },
        { EmailFields.SendAt, Date(v.SendAt) },
        { EmailFields.NextAttemptAt, Date(v.NextAttemptAt) },
        { EmailFields.FailureReason, Nullable(v.FailureReason) },
        { EmailFields.Recipients, new BsonArray(v.Recipients.Select(ToBson)) },
        { EmailFields.Timeline, new BsonArray(v.Timeline.Select(ToBson)) },
        { EmailFields.Version, v.Version },
        { EmailFields.Template, v.Template is { } t ? new BsonDocument { { "Name", t.Name }, { "Version", t.Version } } : BsonNull.Value },
        { EmailFields.SettledAt, Date(v.SettledAt) },
        { EmailFields.AwaitingReportFrom, Nullable(v.AwaitingReportFrom) },
        { EmailFields.AwaitingReportSince, Date(v.AwaitingReportSince) },
        { EmailFields.BodyBytes, v.BodyBytes },
        { EmailFields.BodiesRemovedAt, Date(v.BodiesRemovedAt) },
        { EmailFields.SearchHeaders, v.SearchHeaders is { } h ? new BsonDocument(h.Select(kv => new BsonElement(kv.Key, kv.Value))) : BsonNull.Value },
        { EmailFields.SearchTokens, Strings(EmailSearch.TokensOf(v)) },
    };

    public static EmailView FromBson(BsonDocument d) => new(
        d[EmailFields.Id].AsString,
        d[EmailFields.UserId].AsString,
        d[EmailFields.Status].AsString,
        ToDate(d[EmailFields.CreatedAt]),
        ToDate(d[EmailFields.UpdatedAt]),
        d[EmailFields.From].AsString,
        ToStrings(d[EmailFields.To]),
        ToStrings(d[EmailFields.Cc]),
        ToStrings(d[EmailFields.Bcc]),
        d[EmailFields.Subject].AsString,
        ToStrings(d[EmailFields.Tags]),
        ToNullableString(d.GetValue(EmailFields.ProviderMessageId, BsonNull.Value)),
        d[EmailFields.Attempt].ToInt32(),
        ToNullableDate(d.GetValue(EmailFields.SendAt, BsonNull.Value)),
        ToNullableDate(d.GetValue(EmailFields.NextAttemptAt, BsonNull.Value)),
        ToNullableString(d.GetValue(EmailFields.FailureReason, BsonNull.Value)),
        d[EmailFields.Recipients].AsBsonArray.Select(r => RecipientFromBson(r.AsBsonDocument)).ToArray(),
        d[EmailFields.Timeline].AsBsonArray.Select(t => TimelineFromBson(t.AsBsonDocument)).ToArray(),
        d[EmailFields.Version].ToInt64())
    {
        Phase = d.GetValue(EmailFields.Phase, "").AsString,
        // Absent from documents written before templates existed.
        Template = d.GetValue(EmailFields.Template, BsonNull.Value) is BsonDocument t
            ? new AkkaMail.Domain.TemplateUse(t["Name"].AsString, t["Version"].ToInt32())
            : null,
        // Absent from documents written before retention existed.
        SettledAt = ToNullableDate(d.GetValue(EmailFields.SettledAt, BsonNull.Value)),
        // Absent from documents written before reconciliation existed.
        AwaitingReportFrom = ToNullableString(d.GetValue(EmailFields.AwaitingReportFrom, BsonNull.Value)),
        AwaitingReportSince = ToNullableDate(d.GetValue(EmailFields.AwaitingReportSince, BsonNull.Value)),
        // Absent from documents written before the storage figures existed.
        BodyBytes = d.GetValue(EmailFields.BodyBytes, 0L).ToInt64(),
        BodiesRemovedAt = ToNullableDate(d.GetValue(EmailFields.BodiesRemovedAt, BsonNull.Value)),
        // Absent from documents written before search existed.
        SearchHeaders = d.GetValue(EmailFields.SearchHeaders, BsonNull.Value) is BsonDocument h
            ? h.Elements.ToDictionary(e => e.Name, e => e.Value.AsString)
            : null,
    };

    public static BsonDocument ToBson(RecipientView r) => new()
    {
        { "Address", r.Address },
        { "Status", r.Status },
        { "StatusAt", Date(r.StatusAt) },
        { "Reason", Nullable(r.Reason) },
        { "Code", r.Code is { } c ? c : BsonNull.Value },
        { "Opens", r.Opens },
        { "Clicks", r.Clicks },
        { "Complained", r.Complained },
        { "Unsubscribed", r.Unsubscribed },
        { "ClickedUrls", Strings(r.ClickedUrls) },
    };

    public static RecipientView RecipientFromBson(BsonDocument d) => new(
        d["Address"].AsString,
        d["Status"].AsString,
        ToNullableDate(d.GetValue("StatusAt", BsonNull.Value)),
        ToNullableString(d.GetValue("Reason", BsonNull.Value)),
        d.GetValue("Code", BsonNull.Value) is { IsBsonNull: false } code ? code.ToInt32() : null,
        d["Opens"].ToInt32(),
        d["Clicks"].ToInt32(),
        d["Complained"].AsBoolean,
        d["Unsubscribed"].AsBoolean,
        ToStrings(d.GetValue("ClickedUrls", new BsonArray())));

    public static BsonDocument ToBson(TimelineView t) => new()
    {
        { "At", Date(t.At) },
        { "Type", t.Type },
        { "Recipient", Nullable(t.Recipient) },
        { "Detail", Nullable(t.Detail) },
        { "Provider", Nullable(t.Provider) },
    };

    public static TimelineView TimelineFromBson(BsonDocument d) => new(
        ToDate(d["At"]),
        d["Type"].AsString,
        ToNullableString(d.GetValue("Recipient", BsonNull.Value)),
        ToNullableString(d.GetValue("Detail", BsonNull.Value)),
        ToNullableString(d.GetValue("Provider", BsonNull.Value)));

    /// <summary>A BSON date from a time, truncated to the millisecond exactly as <see cref="DateTimeOffset.ToUnixTimeMilliseconds"/>
    /// (which is what list cursors carry), so a page boundary compares equal to the stored value.</summary>
    public static BsonDateTime Date(DateTimeOffset t) => new(t.ToUnixTimeMilliseconds());

    public static BsonValue Date(DateTimeOffset? t) => t is { } v ? Date(v) : BsonNull.Value;

    public static DateTimeOffset ToDate(BsonValue v) => DateTimeOffset.FromUnixTimeMilliseconds(v.AsBsonDateTime.MillisecondsSinceEpoch);

    public static DateTimeOffset? ToNullableDate(BsonValue v) => v.IsBsonNull ? null : ToDate(v);

    private static BsonValue Nullable(string? s) => s is null ? BsonNull.Value : new BsonString(s);

    private static string? ToNullableString(BsonValue v) => v.IsBsonNull ? null : v.AsString;

    private static BsonArray Strings(IEnumerable<string> values) => new(values.Select(s => new BsonString(s)));

    private static string[] ToStrings(BsonValue v) => v.AsBsonArray.Select(x => x.AsString).ToArray();
}

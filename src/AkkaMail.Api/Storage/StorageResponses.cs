using AkkaMail.ReadModel;

namespace AkkaMail.Api.Storage;

/// <summary>Stored emails in figures: how many, the bytes of their bodies and attachments still held in the journal
/// (<c>bodyBytesHeld</c>) and of those retention removed (<c>bodyBytesRemoved</c>), the bytes of their envelopes, recipients and
/// timelines (<c>envelopeBytes</c>: the read model's views), and what is held now (<c>bytesHeld</c>: bodies held + envelopes).</summary>
public sealed record StorageFiguresResponse(long Emails, long BodyBytesHeld, long BodyBytesRemoved, long EnvelopeBytes, long BytesHeld)
{
    public static StorageFiguresResponse Of(StorageFigures f) => new(f.Emails, f.BodyBytesHeld, f.BodyBytesRemoved, f.EnvelopeBytes, f.BytesHeld);
}

/// <summary>One user's stored emails in figures.</summary>
public sealed record UserStorageResponse(string UserId, StorageFiguresResponse Storage);

/// <summary>Bytes on disk of one part: <c>journal</c>, <c>read_model</c>, <c>outbox</c> (see the README's "Retention").</summary>
public sealed record DiskPartResponse(string Part, long Bytes);

/// <summary>GET /api/admin/storage: totals, the users holding the most bytes (largest first, up to <c>limit</c>) out of
/// <c>userCount</c>, bytes on disk by part, and when it was measured (figures are at most
/// <c>Retention:StorageFiguresMaxAge</c> old).</summary>
public sealed record StorageResponse(
    DateTimeOffset MeasuredAt, StorageFiguresResponse Totals, int UserCount, IReadOnlyList<UserStorageResponse> Users,
    IReadOnlyList<DiskPartResponse> Disk)
{
    public static StorageResponse Of(StorageReport r, int limit) => new(
        r.MeasuredAt, StorageFiguresResponse.Of(r.Totals), r.Users.Count,
        r.Users.Take(limit).Select(u => new UserStorageResponse(u.UserId, StorageFiguresResponse.Of(u.Figures))).ToArray(),
        r.Disk.Select(d => new DiskPartResponse(d.Part, d.Bytes)).ToArray());
}

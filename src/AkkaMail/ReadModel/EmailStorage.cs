namespace AkkaMail.ReadModel;

/// <summary>What the read model says is stored for a set of emails (one user's, or all): how many, the bytes of their
/// bodies still held in the journal and of those retention already removed, and the bytes of their envelopes and
/// timelines (the views' JSON).</summary>
public sealed record StorageFigures(long Emails, long BodyBytesHeld, long BodyBytesRemoved, long EnvelopeBytes)
{
    public static readonly StorageFigures None = new(0, 0, 0, 0);

    /// <summary>Bytes held now: bodies not yet removed, and envelopes.</summary>
    public long BytesHeld => BodyBytesHeld + EnvelopeBytes;

    public StorageFigures Plus(StorageFigures other) => new(Emails + other.Emails, BodyBytesHeld + other.BodyBytesHeld,
        BodyBytesRemoved + other.BodyBytesRemoved, EnvelopeBytes + other.EnvelopeBytes);
}

/// <summary>One user's figures.</summary>
public sealed record UserStorage(string UserId, StorageFigures Figures);

/// <summary>Bytes on disk of one part of the service's storage (journal, read_model, outbox), as its backend reports them.</summary>
public sealed record DiskPart(string Part, long Bytes);

/// <summary>
/// The storage figures of the read model, per user: each view row carries its email's body size, whether retention
/// removed the bodies, and its own size, written with the view by the read-side projection in the same transaction
/// (SQLite, PostgreSQL), so the sums are the journal's as projected. An aggregate over the rows: read through
/// <see cref="StorageFiguresCache"/>, never on every scrape.
/// </summary>
public interface IEmailStorageStore
{
    /// <summary>Every user's figures (one row per user with emails), in no particular order.</summary>
    Task<IReadOnlyList<UserStorage>> MeasureByUserAsync(CancellationToken ct = default);

    /// <summary>Marks these emails' bodies as removed (retention confirmed it: no event tells the projection). Idempotent;
    /// a later view of the email never clears the mark.</summary>
    Task MarkBodiesRemovedAsync(IReadOnlyCollection<string> ids, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>The backend's own account of its size on disk, by part (PostgreSQL: its tables; MongoDB: its collections;
    /// SQLite: none here, its files are measured by the host).</summary>
    Task<IReadOnlyList<DiskPart>> MeasureDiskAsync(CancellationToken ct = default);
}

/// <summary>What <see cref="StorageFiguresCache"/> holds: per user (largest held first), totals, disk parts, and when.</summary>
public sealed record StorageReport(IReadOnlyList<UserStorage> Users, StorageFigures Totals, IReadOnlyList<DiskPart> Disk, DateTimeOffset MeasuredAt);

/// <summary>
/// The storage figures, measured at most once per <paramref name="maxAge"/> (an aggregate over every view row costs a scan
/// of an index: fine every few seconds, not on every scrape and every request). One measurement at a time; callers that
/// come while it runs share it.
/// </summary>
/// <param name="hostDisk">Parts the host measures itself (the SQLite files, the outbox).</param>
public sealed class StorageFiguresCache(IEmailStorageStore store, Func<IReadOnlyList<DiskPart>> hostDisk, TimeSpan maxAge,
    TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly object _gate = new();
    private Task<StorageReport>? _measuring;
    private StorageReport? _last;
    // Its age is wall time, whatever the clock the report is dated by (tests move that one by days, or not at all).
    private long _lastTimestamp;

    /// <summary>The last report, possibly older than the maximum age (null before the first), starting a new measurement
    /// in the background when it is too old: for the metrics' callbacks, which must not wait.</summary>
    public StorageReport? Latest
    {
        get
        {
            _ = GetAsync().ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            return _last;
        }
    }

    /// <summary>A report no older than the maximum age.</summary>
    public Task<StorageReport> GetAsync(CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (_last is { } last && System.Diagnostics.Stopwatch.GetElapsedTime(_lastTimestamp) < maxAge) return Task.FromResult(last);
            // On the pool: the measurement's end clears _measuring under this lock, which must come after it was set.
            _measuring ??= Task.Run(MeasureAsync);
            return _measuring.WaitAsync(ct);
        }
    }

    private async Task<StorageReport> MeasureAsync()
    {
        try
        {
            var users = await store.MeasureByUserAsync();
            var disk = (await store.MeasureDiskAsync()).Concat(hostDisk()).ToList();
            var ordered = users.OrderByDescending(u => u.Figures.BytesHeld).ThenBy(u => u.UserId, StringComparer.Ordinal).ToList();
            var totals = ordered.Aggregate(StorageFigures.None, (sum, u) => sum.Plus(u.Figures));
            var report = new StorageReport(ordered, totals, disk, _clock.GetUtcNow());
            lock (_gate)
            {
                _last = report;
                _lastTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            return report;
        }
        finally
        {
            lock (_gate) _measuring = null;
        }
    }
}

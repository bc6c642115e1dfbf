namespace AkkaMail.Projections;

/// <summary>
/// The journal's newest global ordering, for comparing a projection's offset with: set once the actor system (and
/// its read journal) is up. Until then, and on a backend that cannot tell, unknown.
/// </summary>
public sealed class JournalHead
{
    private volatile Func<CancellationToken, Task<long>>? _highestOrdering;

    public void Use(Func<CancellationToken, Task<long>> highestOrdering) => _highestOrdering = highestOrdering;

    public bool Known => _highestOrdering is not null;

    /// <summary>The journal's newest ordering, or null while unknown.</summary>
    public async Task<long?> HighestOrderingAsync(CancellationToken ct = default)
    {
        if (_highestOrdering is not { } f) return null;
        var highest = await f(ct);
        if (highest > Interlocked.Read(ref _lastKnown)) Interlocked.Exchange(ref _lastKnown, highest);
        return highest;
    }

    private long _lastKnown;

    /// <summary>The newest ordering seen by the last <see cref="HighestOrderingAsync"/> (for gauges, which cannot wait).</summary>
    public long LastKnown => Interlocked.Read(ref _lastKnown);

    /// <summary>How far <paramref name="progress"/> is behind the journal: events, and the age of the newest event it
    /// stored while it is behind (0 when caught up).</summary>
    public static (long Events, double Seconds) Lag(ProjectionProgress progress, long head, DateTimeOffset now)
    {
        var events = Math.Max(0, head - Math.Max(0, progress.Offset));
        if (events == 0) return (0, 0);
        var since = progress.LastEventTimestamp ?? progress.LastBatchAt;
        return (events, since is { } t ? Math.Max(0, (now - t).TotalSeconds) : 0);
    }
}

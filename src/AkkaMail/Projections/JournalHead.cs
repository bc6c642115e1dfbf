using System.Runtime.CompilerServices;

namespace AkkaMail.Projections;

/// <summary>
/// The journal's newest global ordering, for comparing a projection's offset with: set once the actor system (and
/// its read journal) is up. Until then, and on a backend that cannot tell, unknown.
/// </summary>
public sealed class JournalHead
{
    private volatile Func<CancellationToken, Task<long>>? _highestOrdering;
    private volatile Func<long, CancellationToken, Task<DateTimeOffset?>>? _writtenAfter;

    /// <param name="writtenAfter">When the first event after an ordering was written (null: none).</param>
    public void Use(Func<CancellationToken, Task<long>> highestOrdering, Func<long, CancellationToken, Task<DateTimeOffset?>>? writtenAfter = null)
    {
        _writtenAfter = writtenAfter;
        _highestOrdering = highestOrdering;
    }

    /// <summary>The journal's newest ordering, or null while unknown.</summary>
    public async Task<long?> HighestOrderingAsync(CancellationToken ct = default)
    {
        if (_highestOrdering is not { } f) return null;
        return await f(ct);
    }

    /// <summary>How far <paramref name="progress"/> is behind the journal: events, and the age of the oldest event it has
    /// not stored yet (0 when caught up). Last measured by <see cref="LagAsync"/>, for gauges, which cannot wait.</summary>
    public (long Events, double Seconds) LastLag => _lastLag.Value;
    private volatile StrongBox<(long, double)> _lastLag = new((0, 0));

    /// <inheritdoc cref="LastLag"/>
    public async Task<(long Events, double Seconds)> LagAsync(ProjectionProgress progress, DateTimeOffset now, CancellationToken ct = default)
    {
        var offset = Math.Max(0, progress.Offset);
        var head = await HighestOrderingAsync(ct) ?? offset;
        var events = Math.Max(0, head - offset);
        var seconds = 0.0;
        if (events > 0 && _writtenAfter is { } writtenAfter && await writtenAfter(offset, ct) is { } oldest)
            seconds = Math.Max(0, (now - oldest).TotalSeconds);
        _lastLag = new StrongBox<(long, double)>((events, seconds));
        return (events, seconds);
    }
}

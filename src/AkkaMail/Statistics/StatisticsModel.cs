namespace AkkaMail.Statistics;

/// <summary>The width of a statistics bucket. Minute rows are kept for a day, hour rows for a month, day rows for ever.</summary>
public enum StatsBucket { Minute = 0, Hour = 1, Day = 2 }

/// <summary>What is counted. Every counter but <see cref="Accepted"/> counts recipients (an email to three people that is
/// delivered counts 3 delivered); <see cref="Accepted"/> counts emails.</summary>
public enum StatsCounter
{
    /// <summary>Emails accepted.</summary>
    Accepted = 0,
    /// <summary>Recipients handed to a provider (an email's recipients minus those suppressed, when it was sent).</summary>
    Sent,
    /// <summary>Recipients the provider reported delivered (first report per email and recipient).</summary>
    Delivered,
    /// <summary>Recipients failed for good: a provider's permanent failure (once per email and recipient), and every
    /// recipient of an email whose send failed for good (refused, or out of attempts).</summary>
    Failed,
    /// <summary>The provider's permanent failures alone (a subset of <see cref="Failed"/>): the bounce rate's numerator.</summary>
    Bounced,
    /// <summary>Temporary failures: every provider report of one, and every recipient of an attempt we retry.</summary>
    Deferred,
    /// <summary>Recipients who opened (once per email and recipient).</summary>
    Opened,
    /// <summary>Recipients who clicked (once per email and recipient).</summary>
    Clicked,
    Complained,
    Unsubscribed,
    /// <summary>Recipients never sent to: on the sender's suppression list at acceptance.</summary>
    Suppressed,
}

public static class StatsCounters
{
    public static readonly StatsCounter[] All = Enum.GetValues<StatsCounter>();
    public static readonly int Count = All.Length;

    /// <summary>The counter's column (SQL) or field (MongoDB) name.</summary>
    public static string Column(StatsCounter c) => c.ToString().ToLowerInvariant();

    public static readonly string[] Columns = All.Select(Column).ToArray();
}

public static class StatsBuckets
{
    /// <summary>The start of the bucket holding <paramref name="at"/>, in UTC.</summary>
    public static DateTimeOffset StartOf(StatsBucket bucket, DateTimeOffset at)
    {
        var t = at.UtcTicks;
        var width = Width(bucket).Ticks;
        return new DateTimeOffset(t - t % width, TimeSpan.Zero);
    }

    public static TimeSpan Width(StatsBucket bucket) => bucket switch
    {
        StatsBucket.Minute => TimeSpan.FromMinutes(1),
        StatsBucket.Hour => TimeSpan.FromHours(1),
        _ => TimeSpan.FromDays(1),
    };

    /// <summary>How long rows of the bucket are kept (null: for ever).</summary>
    public static TimeSpan? Kept(StatsBucket bucket) => bucket switch
    {
        StatsBucket.Minute => TimeSpan.FromDays(1),
        StatsBucket.Hour => TimeSpan.FromDays(31),
        _ => null,
    };

    public static bool TryParse(string? text, out StatsBucket bucket)
    {
        bucket = StatsBucket.Hour;
        switch (text)
        {
            case "minute": bucket = StatsBucket.Minute; return true;
            case "hour": bucket = StatsBucket.Hour; return true;
            case "day": bucket = StatsBucket.Day; return true;
            default: return false;
        }
    }

    public static string ToWire(this StatsBucket bucket) => bucket.ToString().ToLowerInvariant();
}

/// <summary>
/// Provider latency histogram bins, fixed and logarithmic: bin i holds latencies in [2^(i/4), 2^((i+1)/4)) ms (bin 0 also
/// everything below), so any percentile read from the bins is within ±9 % of the truth (the bin's geometric middle),
/// and two histograms add bin by bin.
/// </summary>
public static class LatencyBins
{
    public const int Count = 100;

    public static int Of(TimeSpan latency)
    {
        var ms = latency.TotalMilliseconds;
        if (ms <= 1) return 0;
        return Math.Min(Count - 1, (int)Math.Floor(4 * Math.Log2(ms)));
    }

    /// <summary>The bin's geometric middle, in milliseconds.</summary>
    public static double MiddleMs(int bin) => Math.Pow(2, (bin + 0.5) / 4);

    /// <summary>The <paramref name="quantile"/> (0..1) of a histogram (counts per bin), null when it is empty.</summary>
    public static double? Percentile(IReadOnlyList<long> bins, double quantile)
    {
        long total = 0;
        foreach (var n in bins) total += n;
        if (total == 0) return null;
        var rank = Math.Max(1, (long)Math.Ceiling(quantile * total));
        long seen = 0;
        for (var i = 0; i < bins.Count; i++)
        {
            seen += bins[i];
            if (seen >= rank) return Math.Round(MiddleMs(i), 1);
        }
        return Math.Round(MiddleMs(bins.Count - 1), 1);
    }
}

/// <summary>What the projection remembers of one email, without its addresses: whose it is, its tags, how many
/// recipients it goes to, and where its send stands (for latency and for counting the send once).</summary>
public sealed record EmailFacts(string EmailId, string UserId, IReadOnlyList<string> Tags, int Recipients,
    DateTimeOffset? AttemptStartedAt, bool Sent);

/// <summary>The key of one row of counts: bucket width and start, user, tag ("" for all tags).</summary>
public readonly record struct StatsRowKey(StatsBucket Bucket, DateTimeOffset Start, string UserId, string Tag);

/// <summary>The key of one latency histogram cell: bucket width (hour or day) and start, user, tag ("" for all), bin.</summary>
public readonly record struct LatencyCellKey(StatsBucket Bucket, DateTimeOffset Start, string UserId, string Tag, int Bin);

/// <summary>
/// One projected batch, ready to store in one transaction with its offset: counter increments per row, latency
/// increments per cell, the emails' facts as they stand after the batch, and the uniqueness keys first seen in it.
/// </summary>
public sealed record StatisticsBatch(
    IReadOnlyDictionary<StatsRowKey, long[]> Counts,
    IReadOnlyDictionary<LatencyCellKey, long> Latency,
    IReadOnlyList<EmailFacts> Facts,
    IReadOnlyList<string> FirstSeen)
{
    public bool IsEmpty => Counts.Count == 0 && Latency.Count == 0 && Facts.Count == 0 && FirstSeen.Count == 0;
}

/// <summary>A stats query: whose (null: every user), which tag ("": all), bucket width, [From, To).</summary>
public sealed record StatsQuery(string? UserId, string Tag, StatsBucket Bucket, DateTimeOffset From, DateTimeOffset To);

/// <summary>Counts of one bucket (indexed by <see cref="StatsCounter"/>).</summary>
public sealed record StatsRow(DateTimeOffset Start, long[] Counts)
{
    public long this[StatsCounter c] => Counts[(int)c];
}

/// <summary>A latency histogram of one bucket (counts per <see cref="LatencyBins"/> bin).</summary>
public sealed record LatencyRow(DateTimeOffset Start, long[] Bins);

/// <summary>What the store answers: the rows that exist (buckets with nothing are absent), ordered by start.</summary>
public sealed record StatsResult(IReadOnlyList<StatsRow> Rows, IReadOnlyList<LatencyRow> Latency);

/// <summary>
/// The statistics' store, written by their projection alone. <see cref="StoreAsync"/> stores a batch and the offset
/// together (all or nothing): counts are increments, so a batch stored twice would count twice.
/// </summary>
public interface IStatisticsStore
{
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>The stored offset (the ordering of the last event counted), 0 for none.</summary>
    Task<long> LoadOffsetAsync(CancellationToken ct = default);

    /// <summary>The stored facts of those emails that have some.</summary>
    Task<IReadOnlyDictionary<string, EmailFacts>> LoadFactsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default);

    /// <summary>Which of <paramref name="keys"/> (uniqueness keys) are already stored.</summary>
    Task<IReadOnlySet<string>> SeenAsync(IReadOnlyCollection<string> keys, CancellationToken ct = default);

    /// <summary>Stores the batch and <paramref name="offset"/> at once, or neither.</summary>
    Task StoreAsync(StatisticsBatch batch, long offset, CancellationToken ct = default);

    Task<StatsResult> QueryAsync(StatsQuery query, CancellationToken ct = default);

    /// <summary>Deletes minute rows that started before <paramref name="minutesBefore"/> and hour rows (counts and latency)
    /// before <paramref name="hoursBefore"/>.</summary>
    Task PruneAsync(DateTimeOffset minutesBefore, DateTimeOffset hoursBefore, CancellationToken ct = default);
}

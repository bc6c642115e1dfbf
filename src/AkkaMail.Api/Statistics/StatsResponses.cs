using AkkaMail.Statistics;

namespace AkkaMail.Api.Statistics;

/// <summary>Counts of one bucket or of the whole range. Every count is of recipients but <c>accepted</c> (emails).</summary>
public sealed record StatsCountsResponse(long Accepted, long Sent, long Delivered, long Failed, long Bounced, long Deferred,
    long Opened, long Clicked, long Complained, long Unsubscribed, long Suppressed)
{
    public static readonly StatsCountsResponse Zero = Of(new long[StatsCounters.Count]);

    public static StatsCountsResponse Of(long[] c) => new(c[(int)StatsCounter.Accepted], c[(int)StatsCounter.Sent],
        c[(int)StatsCounter.Delivered], c[(int)StatsCounter.Failed], c[(int)StatsCounter.Bounced], c[(int)StatsCounter.Deferred],
        c[(int)StatsCounter.Opened], c[(int)StatsCounter.Clicked], c[(int)StatsCounter.Complained], c[(int)StatsCounter.Unsubscribed],
        c[(int)StatsCounter.Suppressed]);
}

/// <summary>Rates as fractions (0..1, may pass 1 when reports of a bucket's sends land in the next); null without a denominator.</summary>
public sealed record StatsRatesResponse(double? DeliveredPerSent, double? BouncedPerSent, double? ComplainedPerDelivered)
{
    public static StatsRatesResponse Of(long[] c) => new(
        Ratio(c[(int)StatsCounter.Delivered], c[(int)StatsCounter.Sent]),
        Ratio(c[(int)StatsCounter.Bounced], c[(int)StatsCounter.Sent]),
        Ratio(c[(int)StatsCounter.Complained], c[(int)StatsCounter.Delivered]));

    private static double? Ratio(long n, long d) => d == 0 ? null : Math.Round((double)n / d, 4);
}

/// <summary>One bucket of the series: its start, counts and rates.</summary>
public sealed record StatsPointResponse(DateTimeOffset Start, StatsCountsResponse Counts, StatsRatesResponse Rates);

/// <summary>Provider latency percentiles in milliseconds (null without samples).</summary>
public sealed record LatencyPointResponse(DateTimeOffset Start, long Samples, double? P50Ms, double? P90Ms, double? P99Ms)
{
    public static LatencyPointResponse Of(DateTimeOffset start, long[] bins) => new(start, bins.Sum(),
        LatencyBins.Percentile(bins, 0.5), LatencyBins.Percentile(bins, 0.9), LatencyBins.Percentile(bins, 0.99));
}

/// <summary>Provider latency: what is measured, its bucket (an hour for minute series), the whole range, and the series.</summary>
public sealed record LatencyResponse(string Measured, string Bucket, LatencyPointResponse Overall, IReadOnlyList<LatencyPointResponse> Series);

/// <summary>
/// GET /api/stats: a series ready to plot (every bucket of [from, to), empty ones with zeros), the range's totals and
/// rates, and provider latency percentiles.
/// </summary>
public sealed record StatsResponse(string Bucket, DateTimeOffset From, DateTimeOffset To, string? Tag, string? UserId,
    StatsCountsResponse Totals, StatsRatesResponse Rates, IReadOnlyList<StatsPointResponse> Series, LatencyResponse Latency)
{
    public const string LatencyMeasured = "send attempt start to the provider accepting the message";

    /// <summary>The dense series of <paramref name="query"/> from the store's rows (which hold only non-empty buckets).</summary>
    public static StatsResponse Of(StatsQuery query, StatsResult result, string? userId)
    {
        var width = StatsBuckets.Width(query.Bucket);
        var rows = result.Rows.ToDictionary(r => r.Start);
        var totals = new long[StatsCounters.Count];
        var series = new List<StatsPointResponse>();
        for (var t = query.From; t < query.To; t += width)
        {
            var counts = rows.TryGetValue(t, out var row) ? row.Counts : new long[StatsCounters.Count];
            for (var i = 0; i < totals.Length; i++) totals[i] += counts[i];
            series.Add(new StatsPointResponse(t, StatsCountsResponse.Of(counts), StatsRatesResponse.Of(counts)));
        }
        var latencyBucket = query.Bucket == StatsBucket.Minute ? StatsBucket.Hour : query.Bucket;
        var latencyWidth = StatsBuckets.Width(latencyBucket);
        var cells = result.Latency.ToDictionary(r => r.Start);
        var overall = new long[LatencyBins.Count];
        var latency = new List<LatencyPointResponse>();
        for (var t = StatsBuckets.StartOf(latencyBucket, query.From); t < query.To; t += latencyWidth)
        {
            var bins = cells.TryGetValue(t, out var cell) ? cell.Bins : new long[LatencyBins.Count];
            for (var i = 0; i < overall.Length; i++) overall[i] += bins[i];
            latency.Add(LatencyPointResponse.Of(t, bins));
        }
        return new StatsResponse(query.Bucket.ToWire(), query.From, query.To, query.Tag.Length == 0 ? null : query.Tag, userId,
            StatsCountsResponse.Of(totals), StatsRatesResponse.Of(totals), series,
            new LatencyResponse(LatencyMeasured, latencyBucket.ToWire(), LatencyPointResponse.Of(query.From, overall), latency));
    }
}

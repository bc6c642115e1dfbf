using AkkaMail.Domain;
using AkkaMail.Statistics;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Tests;

/// <summary>The statistics' rules as a pure function of a batch, the stored facts and the stored uniqueness keys.</summary>
public sealed class StatisticsAggregationTests
{
    private static readonly DateTimeOffset T = new(2026, 3, 1, 12, 34, 56, TimeSpan.Zero);

    private static EmailAccepted Accepted(string id, string[] to, string[] tags, Dictionary<string, string>? suppressed = null) =>
        new(id, "usr", new EmailContent("f@example.com", to, [], [], null, "s", "t", null, tags,
            new Dictionary<string, string>(), new Dictionary<string, string>(), []), T, Suppressed: suppressed);

    private static ProviderEventRecorded Report(string id, string eventId, ProviderEventKind kind, string rcpt, int second) =>
        new(id, new ProviderEvent(eventId, kind, rcpt, T.AddSeconds(second)), T.AddSeconds(second));

    private static long Count(StatisticsBatch b, StatsBucket bucket, string tag, StatsCounter c) =>
        b.Counts.Where(kv => kv.Key.Bucket == bucket && kv.Key.Tag == tag).Sum(kv => kv.Value[(int)c]);

    [Fact]
    public void Recipients_are_counted_per_tag_and_for_all_tags_in_minute_hour_and_day_rows_repeats_once()
    {
        var b = StatisticsAggregation.Aggregate(new IEmailEvent[]
        {
            Accepted("e1", ["a@example.com", "b@example.com", "c@example.com"], ["x", "y", "x"], new() { ["c@example.com"] = "bounce" }),
            new SendAttemptStarted("e1", 1, T.AddSeconds(1)),
            new EmailSent("e1", 1, "m", T.AddSeconds(2)),
            new EmailSent("e1", 1, "m", T.AddSeconds(2)), // counted once: the facts say it was sent
            Report("e1", "1", ProviderEventKind.Delivered, "a@example.com", 3),
            Report("e1", "2", ProviderEventKind.Delivered, "A@Example.com", 4), // the same recipient, another report
            Report("e1", "3", ProviderEventKind.Opened, "a@example.com", 5),
            Report("e1", "4", ProviderEventKind.Opened, "a@example.com", 6),
            Report("e1", "5", ProviderEventKind.TemporaryFailure, "b@example.com", 7),
            Report("e1", "6", ProviderEventKind.TemporaryFailure, "b@example.com", 8),
            Report("e1", "7", ProviderEventKind.PermanentFailure, "b@example.com", 9),
            Report("unknown", "8", ProviderEventKind.Delivered, "a@example.com", 9), // no facts: not counted
        }, new Dictionary<string, EmailFacts>(), new HashSet<string>());

        foreach (var bucket in new[] { StatsBucket.Minute, StatsBucket.Hour, StatsBucket.Day })
            foreach (var tag in new[] { "", "x", "y" })
            {
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Accepted));
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Suppressed));
                Assert.Equal(2, Count(b, bucket, tag, StatsCounter.Sent));
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Delivered));
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Opened));
                Assert.Equal(2, Count(b, bucket, tag, StatsCounter.Deferred));
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Bounced));
                Assert.Equal(1, Count(b, bucket, tag, StatsCounter.Failed));
            }
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 12, 34, 0, TimeSpan.Zero),
            b.Counts.Keys.Where(k => k.Bucket == StatsBucket.Minute).Min(k => k.Start));
        Assert.Equal(3, b.FirstSeen.Count); // delivered, opened, bounced
        Assert.DoesNotContain(b.FirstSeen, k => k.Contains("example.com", StringComparison.OrdinalIgnoreCase));
        var facts = Assert.Single(b.Facts);
        Assert.Equal(["x", "y"], facts.Tags);
        Assert.Equal(2, facts.Recipients);
        Assert.True(facts.Sent);
        // One latency sample of a second, per hour and per day, all tags and each tag.
        Assert.Equal(6, b.Latency.Values.Sum());
        Assert.All(b.Latency.Keys, k => Assert.Equal(LatencyBins.Of(TimeSpan.FromSeconds(1)), k.Bin));
    }

    [Fact]
    public void A_later_batch_reads_the_email_from_its_stored_facts_and_keys()
    {
        var first = StatisticsAggregation.Aggregate(new IEmailEvent[]
        {
            Accepted("e1", ["a@example.com"], []), Report("e1", "1", ProviderEventKind.Opened, "a@example.com", 1),
        }, new Dictionary<string, EmailFacts>(), new HashSet<string>());
        var later = new IEmailEvent[]
        {
            Report("e1", "2", ProviderEventKind.Opened, "a@example.com", 2), Report("e1", "3", ProviderEventKind.Clicked, "a@example.com", 3),
        };
        Assert.Equal(["e1"], StatisticsAggregation.EmailsToLoad(later));
        var keys = StatisticsAggregation.KeysToCheck(later);
        var second = StatisticsAggregation.Aggregate(later, first.Facts.ToDictionary(f => f.EmailId),
            keys.Where(first.FirstSeen.Contains).ToHashSet());
        Assert.Equal(0, Count(second, StatsBucket.Day, "", StatsCounter.Opened));
        Assert.Equal(1, Count(second, StatsBucket.Day, "", StatsCounter.Clicked));
        // An acceptance already in the facts is not counted again.
        Assert.Empty(StatisticsAggregation.Aggregate(new IEmailEvent[] { Accepted("e1", ["a@example.com"], []) },
            first.Facts.ToDictionary(f => f.EmailId), new HashSet<string>()).Counts);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(7)]
    [InlineData(120)]
    [InlineData(4_000)]
    public void A_percentile_read_from_the_bins_is_within_nine_percent(double ms)
    {
        var bins = new long[LatencyBins.Count];
        bins[LatencyBins.Of(TimeSpan.FromMilliseconds(ms))] = 10;
        var p50 = LatencyBins.Percentile(bins, 0.5)!.Value;
        Assert.InRange(p50, Math.Max(1, ms) * 0.91, Math.Max(1.1, ms) * 1.10);
    }

    [Fact]
    public void Percentiles_follow_the_ranks()
    {
        var bins = new long[LatencyBins.Count];
        bins[LatencyBins.Of(TimeSpan.FromMilliseconds(10))] = 90;
        bins[LatencyBins.Of(TimeSpan.FromMilliseconds(1000))] = 10;
        Assert.InRange(LatencyBins.Percentile(bins, 0.5)!.Value, 9, 11);
        Assert.InRange(LatencyBins.Percentile(bins, 0.9)!.Value, 9, 11);
        Assert.InRange(LatencyBins.Percentile(bins, 0.99)!.Value, 900, 1100);
        Assert.Null(LatencyBins.Percentile(new long[LatencyBins.Count], 0.5));
    }
}

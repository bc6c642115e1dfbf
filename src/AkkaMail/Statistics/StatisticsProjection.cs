using Akka.Persistence.Query;
using AkkaMail.Domain;
using AkkaMail.Projections;

namespace AkkaMail.Statistics;

/// <summary>
/// The statistics projection of the journal: per batch, the facts and uniqueness keys its events need are read, the
/// batch is aggregated in memory (<see cref="StatisticsAggregation"/>), and the increments are stored with the offset in
/// one transaction, so a batch handed over again after a crash is either wholly counted already (and not handed over,
/// the offset moved with it) or not at all. One writer only: in a cluster it runs as a singleton.
/// </summary>
public sealed class StatisticsProjection(IStatisticsStore store, TimeProvider clock) : IProjectionHandler
{
    public const string Name = "statistics";

    /// <summary>How often expired minute and hour rows are deleted.</summary>
    public static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(10);

    private DateTimeOffset _lastPrune = DateTimeOffset.MinValue;

    public async Task<long> LoadOffsetAsync(CancellationToken ct)
    {
        await store.InitializeAsync(ct);
        return await store.LoadOffsetAsync(ct);
    }

    public async Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct)
    {
        var events = new List<IEmailEvent>(batch.Count);
        foreach (var envelope in batch)
            if (envelope.Event is IEmailEvent e) events.Add(e);
        var facts = await store.LoadFactsAsync(StatisticsAggregation.EmailsToLoad(events), ct);
        var seen = await store.SeenAsync(StatisticsAggregation.KeysToCheck(events), ct);
        await store.StoreAsync(StatisticsAggregation.Aggregate(events, facts, seen), offset, ct);
        var now = clock.GetUtcNow();
        if (now - _lastPrune >= PruneEvery)
        {
            _lastPrune = now;
            // An hour of slack past each window: a query may ask for exactly the last day (or 31 days).
            await store.PruneAsync(now - StatsBuckets.Kept(StatsBucket.Minute)!.Value - TimeSpan.FromHours(1),
                now - StatsBuckets.Kept(StatsBucket.Hour)!.Value - TimeSpan.FromDays(1), ct);
        }
    }
}

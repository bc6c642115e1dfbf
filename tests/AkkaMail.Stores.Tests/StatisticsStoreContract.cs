using Akka.Persistence.Query;
using AkkaMail.Domain;
using AkkaMail.Statistics;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Stores.Tests;

/// <summary>
/// What every backend's statistics store must do, driven through the statistics projection: the figures it stores for
/// a few thousand generated emails with random provider events (duplicates, retries, failures) equal the counts
/// recomputed from the journal, in minute, hour and day buckets, per user and per tag; a batch whose transaction fails
/// half-way and is handed over again counts once.
/// </summary>
public abstract class StatisticsStoreContract(IStoreBackend backend)
{
    private static readonly string[] Users = { "usr_a", "usr_b", "usr_c" };
    private static readonly string[] TagPool = { "receipt", "welcome", "digest" };

    private IStatisticsStore NewStore()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewStatisticsStore();
        Skip.If(store is null, "this backend has no statistics store");
        return store!;
    }

    /// <summary>The journal of <paramref name="emails"/> generated emails over the last 20 hours, in one global order.</summary>
    public static List<IEmailEvent> Journal(int emails, int seed, DateTimeOffset now)
    {
        var rng = new Random(seed);
        var lives = new List<List<IEmailEvent>>();
        for (var i = 0; i < emails; i++)
        {
            var id = $"em_{seed}_{i:D5}";
            var t = now - TimeSpan.FromHours(20) + TimeSpan.FromSeconds(rng.Next(0, 19 * 3600));
            var recipients = Enumerable.Range(0, rng.Next(1, 4)).Select(j => $"r{j}.{i}@example.com").ToArray();
            var suppressed = rng.NextDouble() < 0.1 ? new Dictionary<string, string> { [recipients[0]] = "bounce" } : null;
            var tags = TagPool.Where(_ => rng.NextDouble() < 0.4).ToArray();
            var content = new EmailContent("from@example.com", recipients, [], [], null, "s", "t", null, tags,
                new Dictionary<string, string>(), new Dictionary<string, string>(), []);
            var life = new List<IEmailEvent> { new EmailAccepted(id, Users[rng.Next(Users.Length)], content, t, Suppressed: suppressed) };
            DateTimeOffset Next() => t += TimeSpan.FromMilliseconds(rng.Next(5, 4000));
            life.Add(new SendAttemptStarted(id, 1, Next()));
            if (rng.NextDouble() < 0.2)
            {
                life.Add(new SendRetryScheduled(id, 1, "451 later", t.AddSeconds(30), Next()));
                life.Add(new SendAttemptStarted(id, 2, Next()));
            }
            if (rng.NextDouble() < 0.08)
            {
                life.Add(new EmailSendFailed(id, 2, "550 refused", Next()));
                lives.Add(life);
                continue;
            }
            life.Add(new EmailSent(id, 1, $"<{id}@mg>", Next(), "mailgun"));
            var n = 0;
            void Report(ProviderEventKind kind, string rcpt)
            {
                var at = Next();
                life.Add(new ProviderEventRecorded(id, new ProviderEvent($"ev_{id}_{n++}", kind, rcpt, at), at));
            }
            foreach (var r in recipients.Where(r => suppressed is null || !suppressed.ContainsKey(r)))
            {
                if (rng.NextDouble() < 0.15) Report(ProviderEventKind.TemporaryFailure, r);
                if (rng.NextDouble() < 0.1) { Report(ProviderEventKind.PermanentFailure, r); continue; }
                Report(ProviderEventKind.Delivered, r);
                if (rng.NextDouble() < 0.05) Report(ProviderEventKind.Delivered, r); // a repeated report (another event id)
                for (var k = rng.Next(0, 4); k > 0; k--) Report(ProviderEventKind.Opened, r);
                for (var k = rng.Next(0, 3); k > 0; k--) Report(ProviderEventKind.Clicked, r);
                if (rng.NextDouble() < 0.05) Report(ProviderEventKind.Complained, r);
                if (rng.NextDouble() < 0.05) Report(ProviderEventKind.Unsubscribed, r);
            }
            lives.Add(life);
        }
        // Emails interleave in time; each email's events keep their order (their times grow).
        return lives.SelectMany(l => l).OrderBy(e => e.At).ToList();
    }

    /// <summary>The counts recomputed from the journal for one user and tag ("": all tags), straight from the rules.</summary>
    public static long[] Recount(IReadOnlyList<IEmailEvent> journal, string userId, string tag)
    {
        var accepted = journal.OfType<EmailAccepted>()
            .Where(a => a.UserId == userId && (tag == "" || a.Content.Tags.Contains(tag)))
            .ToDictionary(a => a.EmailId);
        var mine = journal.Where(e => accepted.ContainsKey(e.EmailId)).ToList();
        int Going(string id)
        {
            var a = accepted[id];
            return a.Content.AllRecipients().Count(r => a.Suppressed is null || !a.Suppressed.ContainsKey(r));
        }
        long Distinct(ProviderEventKind kind) => mine.OfType<ProviderEventRecorded>().Where(p => p.Event.Kind == kind)
            .Select(p => (p.EmailId, Addresses.Normalize(p.Event.Recipient))).Distinct().Count();
        var c = new long[StatsCounters.Count];
        c[(int)StatsCounter.Accepted] = accepted.Count;
        c[(int)StatsCounter.Suppressed] = accepted.Values.Sum(a => a.Suppressed?.Count ?? 0);
        c[(int)StatsCounter.Sent] = mine.OfType<EmailSent>().Sum(s => Going(s.EmailId));
        c[(int)StatsCounter.Bounced] = Distinct(ProviderEventKind.PermanentFailure);
        c[(int)StatsCounter.Failed] = mine.OfType<EmailSendFailed>().Sum(f => Going(f.EmailId)) + c[(int)StatsCounter.Bounced];
        c[(int)StatsCounter.Deferred] = mine.OfType<SendRetryScheduled>().Sum(r => Going(r.EmailId))
            + mine.OfType<ProviderEventRecorded>().Count(p => p.Event.Kind == ProviderEventKind.TemporaryFailure);
        c[(int)StatsCounter.Delivered] = Distinct(ProviderEventKind.Delivered);
        c[(int)StatsCounter.Opened] = Distinct(ProviderEventKind.Opened);
        c[(int)StatsCounter.Clicked] = Distinct(ProviderEventKind.Clicked);
        c[(int)StatsCounter.Complained] = Distinct(ProviderEventKind.Complained);
        c[(int)StatsCounter.Unsubscribed] = Distinct(ProviderEventKind.Unsubscribed);
        return c;
    }

    /// <summary>Fails every <paramref name="every"/>th store half-way through its transaction (a uniqueness key the table refuses,
    /// written after the counts), as a crash would: the runner then hands the batch over again.</summary>
    private sealed class FailingHalfWay(IStatisticsStore inner, int every) : IStatisticsStore
    {
        private int _calls;
        public int Failures { get; private set; }
        public Task InitializeAsync(CancellationToken ct = default) => inner.InitializeAsync(ct);
        public Task<long> LoadOffsetAsync(CancellationToken ct = default) => inner.LoadOffsetAsync(ct);
        public Task<IReadOnlyDictionary<string, EmailFacts>> LoadFactsAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) => inner.LoadFactsAsync(ids, ct);
        public Task<IReadOnlySet<string>> SeenAsync(IReadOnlyCollection<string> keys, CancellationToken ct = default) => inner.SeenAsync(keys, ct);
        public Task<StatsResult> QueryAsync(StatsQuery query, CancellationToken ct = default) => inner.QueryAsync(query, ct);
        public Task PruneAsync(DateTimeOffset m, DateTimeOffset h, CancellationToken ct = default) => inner.PruneAsync(m, h, ct);

        public async Task StoreAsync(StatisticsBatch batch, long offset, CancellationToken ct = default)
        {
            if (++_calls % every != 0 || batch.Counts.Count == 0)
            {
                await inner.StoreAsync(batch, offset, ct);
                return;
            }
            Failures++;
            await inner.StoreAsync(batch with { FirstSeen = batch.FirstSeen.Append(null!).ToArray() }, offset, ct);
            throw new InvalidOperationException("the store accepted a null uniqueness key");
        }
    }

    /// <summary>Runs the projection over the journal as the runner does: from the stored offset, in batches of random size;
    /// after a failed batch, from the stored offset again.</summary>
    private static async Task ProjectAsync(IStatisticsStore store, IReadOnlyList<IEmailEvent> journal, int seed, TimeProvider clock)
    {
        var rng = new Random(seed);
        var envelopes = journal.Select((e, i) => new EventEnvelope(Offset.Sequence(i + 1), "email-" + e.EmailId, 0, e, i + 1, Array.Empty<string>())).ToList();
        var projection = new StatisticsProjection(store, clock);
        var failures = 0;
        while (true)
        {
            var offset = await projection.LoadOffsetAsync(CancellationToken.None);
            if (offset >= envelopes.Count) return;
            try
            {
                while (offset < envelopes.Count)
                {
                    var batch = envelopes.Skip((int)offset).Take(rng.Next(1, 400)).ToList();
                    var last = ProjectionSelf(batch[^1]);
                    await projection.HandleAsync(batch, last, CancellationToken.None);
                    offset = last;
                }
            }
            catch (Exception) when (++failures < 1000)
            {
                // resumed from the stored offset, as the runner does
            }
        }
    }

    private static long ProjectionSelf(EventEnvelope e) => ((Sequence)e.Offset).Value;

    [SkippableFact]
    public async Task The_projection_s_figures_equal_the_counts_recomputed_from_the_journal_even_with_batches_replayed()
    {
        var inner = NewStore();
        var store = new FailingHalfWay(inner, every: 7);
        var now = DateTimeOffset.UtcNow;
        var journal = Journal(2500, seed: 23, now);
        await ProjectAsync(store, journal, seed: 5, TimeProvider.System);
        Assert.True(store.Failures > 0, "no batch was replayed");

        foreach (var user in Users)
            foreach (var tag in TagPool.Prepend(""))
            {
                var expected = Recount(journal, user, tag);
                Assert.True(expected[(int)StatsCounter.Opened] > 0);
                foreach (var (bucket, from) in new[]
                         {
                             (StatsBucket.Minute, now - TimeSpan.FromHours(21)),
                             (StatsBucket.Hour, now - TimeSpan.FromHours(21)),
                             (StatsBucket.Day, now - TimeSpan.FromDays(2)),
                         })
                {
                    var result = await inner.QueryAsync(new StatsQuery(user, tag, bucket, StatsBuckets.StartOf(bucket, from), now.AddHours(1)));
                    var got = new long[StatsCounters.Count];
                    foreach (var row in result.Rows)
                        for (var i = 0; i < got.Length; i++) got[i] += row.Counts[i];
                    Assert.Equal(expected.Select((n, i) => $"{StatsCounters.All[i]}={n}"), got.Select((n, i) => $"{StatsCounters.All[i]}={n}"));
                    if (bucket != StatsBucket.Minute)
                        Assert.Equal(journal.OfType<EmailSent>().Count(s => Accepted(journal, s.EmailId) is { } a && a.UserId == user
                                && (tag == "" || a.Content.Tags.Contains(tag))),
                            result.Latency.Sum(l => l.Bins.Sum()));
                }
            }
        // Every user together.
        var all = await inner.QueryAsync(new StatsQuery(null, "", StatsBucket.Day, StatsBuckets.StartOf(StatsBucket.Day, now.AddDays(-2)), now.AddHours(1)));
        Assert.Equal(journal.OfType<EmailAccepted>().Count(), all.Rows.Sum(r => r[StatsCounter.Accepted]));
    }

    private static EmailAccepted? Accepted(IReadOnlyList<IEmailEvent> journal, string id) =>
        journal.OfType<EmailAccepted>().FirstOrDefault(a => a.EmailId == id);

    [SkippableFact]
    public async Task A_batch_is_counted_into_the_bucket_of_its_time_and_minute_and_hour_rows_are_pruned()
    {
        var store = NewStore();
        await store.InitializeAsync();
        var t = new DateTimeOffset(2026, 3, 1, 12, 34, 56, TimeSpan.Zero);
        var content = new EmailContent("f@example.com", ["a@example.com", "b@example.com"], [], [], null, "s", null, null, ["x"],
            new Dictionary<string, string>(), new Dictionary<string, string>(), []);
        var batch = StatisticsAggregation.Aggregate(new IEmailEvent[]
        {
            new EmailAccepted("e1", "u", content, t),
            new SendAttemptStarted("e1", 1, t.AddSeconds(1)),
            new EmailSent("e1", 1, "m", t.AddSeconds(1.5)),
        }, new Dictionary<string, EmailFacts>(), new HashSet<string>());
        await store.StoreAsync(batch, 3);
        Assert.Equal(3, await store.LoadOffsetAsync());
        var minute = await store.QueryAsync(new StatsQuery("u", "x", StatsBucket.Minute, t.AddHours(-1), t.AddHours(1)));
        var row = Assert.Single(minute.Rows);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 12, 34, 0, TimeSpan.Zero), row.Start);
        Assert.Equal(1, row[StatsCounter.Accepted]);
        Assert.Equal(2, row[StatsCounter.Sent]);
        var hour = await store.QueryAsync(new StatsQuery("u", "", StatsBucket.Hour, t.AddHours(-1), t.AddHours(1)));
        var cell = Assert.Single(hour.Latency);
        Assert.Equal(LatencyBins.Of(TimeSpan.FromMilliseconds(500)), Array.FindIndex(cell.Bins, n => n > 0));
        Assert.Empty((await store.QueryAsync(new StatsQuery("someone-else", "", StatsBucket.Hour, t.AddHours(-1), t.AddHours(1)))).Rows);

        await store.PruneAsync(t.AddMinutes(10), t.AddHours(-1));
        Assert.Empty((await store.QueryAsync(new StatsQuery("u", "x", StatsBucket.Minute, t.AddHours(-1), t.AddHours(1)))).Rows);
        Assert.Single((await store.QueryAsync(new StatsQuery("u", "x", StatsBucket.Hour, t.AddHours(-1), t.AddHours(1)))).Rows);
        await store.PruneAsync(t.AddMinutes(10), t.AddHours(2));
        Assert.Empty((await store.QueryAsync(new StatsQuery("u", "x", StatsBucket.Hour, t.AddHours(-1), t.AddHours(1)))).Rows);
        Assert.Single((await store.QueryAsync(new StatsQuery("u", "x", StatsBucket.Day, t.AddDays(-1), t.AddDays(1)))).Rows);
    }
}

public sealed class SqliteStatisticsStoreContract(SqliteBackend backend) : StatisticsStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbStatisticsStoreContract(MongoDbBackend backend) : StatisticsStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresStatisticsStoreContract(PostgresBackend backend) : StatisticsStoreContract(backend), IClassFixture<PostgresBackend>;

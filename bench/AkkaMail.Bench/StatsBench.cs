using System.Diagnostics;
using AkkaMail.Domain;
using AkkaMail.Statistics;
using AkkaMail.Stores.Sqlite;
using static AkkaMail.Domain.EmailEvents;

/// <summary>
/// Issue 23's statistics at scale: a SQLite statistics store filled with N generated emails (default 1 M) spread over
/// the last year (a tenth of them in the last day), 10 users, 8 tags, each email accepted, sent and delivered or
/// bounced, half opened; aggregated by the projection's code (<see cref="StatisticsAggregation"/>) in memory, and the
/// rows a projection leaves once pruned written once through the store (the emails' facts and uniqueness keys, which
/// queries never read, are left out: writing 1 M emails row by row as the projection does takes longer than a bench run); then the stats query's p50/p99 for a day by minute, a month by hour and a year by day, for one
/// user with and without a tag and for every user.
///   dotnet run -c Release --project bench/AkkaMail.Bench -- --stats [--emails 1000000] [--queries 40]
/// </summary>
public static class StatsBench
{
    public static async Task RunAsync(int emails, int queries)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"akkamail-statsbench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var store = new SqliteStatisticsStore(new SqliteDatabase(Path.Combine(dir, "stats.db")));
            await store.InitializeAsync();
            var now = DateTimeOffset.UtcNow;
            var rng = new Random(23);
            var users = Enumerable.Range(0, 10).Select(i => $"usr_{i}").ToArray();
            var tags = Enumerable.Range(0, 8).Select(i => $"tag{i}").ToArray();
            var fill = Stopwatch.StartNew();
            const int perBatch = 20_000;
            var counts = new Dictionary<StatsRowKey, long[]>();
            var latency = new Dictionary<LatencyCellKey, long>();
            var minutesFrom = now - TimeSpan.FromDays(1) - TimeSpan.FromHours(1);
            var hoursFrom = now - TimeSpan.FromDays(32);
            long offset = 0, events = 0;
            for (var start = 0; start < emails; start += perBatch)
            {
                var batch = new List<IEmailEvent>(perBatch * 5);
                for (var i = start; i < Math.Min(emails, start + perBatch); i++)
                {
                    var id = $"em_{i:D8}";
                    var age = rng.NextDouble() < 0.1 ? TimeSpan.FromSeconds(rng.Next(0, 86_400)) : TimeSpan.FromMinutes(rng.Next(0, 365 * 1440));
                    var t = now - age;
                    var emailTags = tags.Where(_ => rng.NextDouble() < 0.15).ToArray();
                    var rcpt = $"r{i}@example.com";
                    var content = new EmailContent("f@example.com", [rcpt], [], [], null, "s", null, null, emailTags,
                        new Dictionary<string, string>(), new Dictionary<string, string>(), []);
                    batch.Add(new EmailAccepted(id, users[rng.Next(users.Length)], content, t));
                    batch.Add(new SendAttemptStarted(id, 1, t.AddMilliseconds(20)));
                    batch.Add(new EmailSent(id, 1, $"<{id}@mg>", t.AddMilliseconds(20 + rng.Next(30, 900))));
                    var bounce = rng.NextDouble() < 0.05;
                    var pe = new ProviderEvent($"ev_{id}", bounce ? ProviderEventKind.PermanentFailure : ProviderEventKind.Delivered, rcpt, t.AddSeconds(3));
                    batch.Add(new ProviderEventRecorded(id, pe, t.AddSeconds(3)));
                    if (!bounce && rng.NextDouble() < 0.5)
                        batch.Add(new ProviderEventRecorded(id, pe with { EventId = $"op_{id}", Kind = ProviderEventKind.Opened }, t.AddMinutes(5)));
                }
                offset += batch.Count;
                events += batch.Count;
                // Every email's events are in its batch: no facts or keys to read back (the projection reads them per batch).
                var aggregated = StatisticsAggregation.Aggregate(batch, new Dictionary<string, EmailFacts>(), new HashSet<string>());
                foreach (var (key, row) in aggregated.Counts)
                {
                    if (key.Bucket == StatsBucket.Minute ? key.Start < minutesFrom : key.Bucket == StatsBucket.Hour && key.Start < hoursFrom) continue;
                    if (!counts.TryGetValue(key, out var sum)) counts[key] = sum = new long[StatsCounters.Count];
                    for (var k = 0; k < sum.Length; k++) sum[k] += row[k];
                }
                foreach (var (key, n) in aggregated.Latency)
                    if (key.Bucket != StatsBucket.Hour || key.Start >= hoursFrom) latency[key] = latency.GetValueOrDefault(key) + n;
            }
            Console.WriteLine($"  aggregated in {fill.Elapsed.TotalSeconds:0.0} s: {counts.Count:N0} count rows, {latency.Count:N0} latency cells");
            // The rows a projection of those emails leaves once pruned, written in store transactions of 20,000 rows.
            var countRows = counts.ToArray();
            var latencyCells = latency.ToArray();
            for (var i = 0; i < Math.Max(countRows.Length, latencyCells.Length); i += 20_000)
            {
                offset++;
                await store.StoreAsync(new StatisticsBatch(countRows.Skip(i).Take(20_000).ToDictionary(), latencyCells.Skip(i).Take(20_000).ToDictionary(),
                    [], []), offset);
            }
            await store.PruneAsync(minutesFrom, hoursFrom);
            fill.Stop();
            var size = Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"stats fill: {emails:N0} emails, {events:N0} events aggregated and written in {fill.Elapsed.TotalSeconds:0.0} s " +
                              $"({events / fill.Elapsed.TotalSeconds:N0} events/s); files {size / 1e6:0.0} MB");

            var cases = new (string Name, StatsBucket Bucket, TimeSpan Range)[]
            {
                ("day by minute", StatsBucket.Minute, TimeSpan.FromDays(1)),
                ("month by hour", StatsBucket.Hour, TimeSpan.FromDays(30)),
                ("year by day", StatsBucket.Day, TimeSpan.FromDays(365)),
            };
            foreach (var (name, bucket, range) in cases)
                foreach (var (who, tag) in new (string? User, string Tag)[] { ("usr_3", ""), ("usr_3", "tag5"), (null, "") })
                {
                    var q = new StatsQuery(who, tag, bucket, StatsBuckets.StartOf(bucket, now - range), now);
                    var times = new List<double>();
                    long accepted = 0;
                    for (var i = 0; i < queries + 3; i++)
                    {
                        var sw = Stopwatch.StartNew();
                        var result = await store.QueryAsync(q);
                        sw.Stop();
                        if (i >= 3) times.Add(sw.Elapsed.TotalMilliseconds); // the first three warm the caches
                        accepted = result.Rows.Sum(r => r[StatsCounter.Accepted]);
                    }
                    times.Sort();
                    Console.WriteLine($"stats query {name,-14} user={who ?? "*",-6} tag={(tag.Length == 0 ? "(all)" : tag),-6}: " +
                                      $"p50 {times[times.Count / 2]:0.00} ms, p99 {times[(int)Math.Ceiling(times.Count * 0.99) - 1]:0.00} ms " +
                                      $"({accepted:N0} emails in range)");
                }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

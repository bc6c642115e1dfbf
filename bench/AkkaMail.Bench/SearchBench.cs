using System.Diagnostics;
using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;

/// <summary>
/// Issue 23's search cost: fills a SQLite read model with generated emails (direct store writes, as the projection makes
/// them: view, columns and search row per email, batches of 5,000 in one transaction each) and prints p50/p99 of a few
/// searches' first page (50 emails), as GET /api/emails?q= runs them.
///   dotnet run -c Release --project bench/AkkaMail.Bench -- --search [--emails 1000000] [--seconds-per-query 15]
/// </summary>
public static class SearchBench
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Words = ["invoice", "receipt", "shipped", "welcome", "reminder", "password", "digest", "offer"];

    public static async Task RunAsync(int emails, double secondsPerQuery)
    {
        var dir = Path.Combine(Path.GetTempPath(), "akkamail-search-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var db = new SqliteDatabase(Path.Combine(dir, "read.db"));
            using var store = new SqliteEmailReadStore(db);
            await store.InitializeAsync();
            var fill = Stopwatch.StartNew();
            const int batch = 5000;
            for (var start = 0; start < emails; start += batch)
            {
                await store.UpsertAsync(Enumerable.Range(start, Math.Min(batch, emails - start)).Select(Generate).ToList());
                if ((start / batch) % 40 == 0) Console.Write($"\r  filled {start + batch:N0} in {fill.Elapsed.TotalSeconds:F0} s");
            }
            Console.WriteLine($"\r  filled {emails:N0} emails in {fill.Elapsed.TotalSeconds:F0} s ({emails / fill.Elapsed.TotalSeconds:N0}/s); " +
                              $"file {new FileInfo(db.Path).Length / 1e6:N0} MB (+ WAL)");

            var someId = IdOf(emails / 3);
            var queries = new (string Name, EmailQuery Query)[]
            {
                ("rare word (1 in 100,000)", Q("zanzibar")),
                ("common word (1 in 8)", Q("invoice")),
                ("very common word (every email)", Q("order")),
                ("our id", Q(someId)),
                ("an address (~20 emails)", Q("customer12345@example45.test")),
                ("common word + status failed", Q("invoice") with { Status = "failed" }),
                ("rare word + status delivered", Q("zanzibar") with { Status = "delivered" }),
                ("no search, status failed (baseline)", new EmailQuery("usr_bench", 50, Status: "failed")),
            };
            Console.WriteLine($"  {"query",-38} {"matches/page",12} {"runs",6} {"p50 ms",9} {"p99 ms",9}");
            foreach (var (name, query) in queries)
            {
                var times = new List<double>();
                var budget = Stopwatch.StartNew();
                var found = 0;
                while (budget.Elapsed.TotalSeconds < secondsPerQuery && times.Count < 2000)
                {
                    var t = Stopwatch.GetTimestamp();
                    found = (await store.ListAsync(query)).Items.Count;
                    times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                }
                times.Sort();
                Console.WriteLine($"  {name,-38} {found,12} {times.Count,6} {Pct(times, 0.50),9:F2} {Pct(times, 0.99),9:F2}");
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static EmailQuery Q(string q) => new("usr_bench", 50) { Search = EmailSearch.Parse(q) };

    private static double Pct(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static string IdOf(int i) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))[..32];

    private static EmailView Generate(int i)
    {
        var at = T0.AddSeconds(i);
        var to = $"customer{i % 50_000}@example{i % 100}.test";
        var status = (i % 20) switch { 0 => "failed", < 4 => "sent", _ => "delivered" };
        var subject = $"Your {Words[i % Words.Length]} for order {i % 100_000}" + (i % 100_000 == 7 ? " from Zanzibar" : "");
        return new EmailView(IdOf(i), "usr_bench", status, at, at.AddSeconds(5), "Shop <shop@store.test>", [to], [], [], subject,
            [Words[(i / 7) % Words.Length]], $"<{i}.{i % 997}@mg.store.test>", 1, null, null, null,
            [new RecipientView(to, status, at.AddSeconds(5), null, null, 0, 0, false, false, [])],
            [new TimelineView(at, "accepted", null, null), new TimelineView(at.AddSeconds(1), "sent", null, null, "mailgun")], 3)
        {
            Phase = "Sent",
            SettledAt = at.AddSeconds(1),
            SearchHeaders = new Dictionary<string, string> { ["X-Order-Id"] = $"ORD-{i}" },
        };
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// Statistics under kill -9: the service (its own process) sends emails, about one in seven of them bouncing, half of them
/// tagged, and is killed with SIGKILL a few times mid-run and started again on the same data. Once everything settled,
/// GET /api/stats (all tags, and the tag) equals the recount of what GET /api/emails/{id} says about each email:
/// accepted, sent, delivered, bounced and failed recipients. A batch counted twice (its offset lost) or not at all
/// fails it. Knobs: AKKAMAIL_CRASH_SEED, AKKAMAIL_STATS_CRASH_EMAILS (default 300), AKKAMAIL_CRASH_KILLS (default 2-3).
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class StatisticsCrashTests(ITestOutputHelper output)
{
    private const string Tag = "crash-stats";

    private static int? EnvInt(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : null;

    private void Log(string line)
    {
        try { output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}"); }
        catch (InvalidOperationException) { }
    }

    private sealed record Recount(long Accepted, long Sent, long Delivered, long Bounced, long Failed)
    {
        public static Recount Of(JsonNode totals) => new(totals["accepted"]!.GetValue<long>(), totals["sent"]!.GetValue<long>(),
            totals["delivered"]!.GetValue<long>(), totals["bounced"]!.GetValue<long>(), totals["failed"]!.GetValue<long>());
    }

    [Fact]
    public async Task Kill_9_mid_run_the_statistics_equal_the_recount_of_every_email()
    {
        var seed = EnvInt("AKKAMAIL_CRASH_SEED") ?? Random.Shared.Next(1, int.MaxValue);
        var rng = new Random(seed);
        var total = EnvInt("AKKAMAIL_STATS_CRASH_EMAILS") ?? 300;
        var killCount = EnvInt("AKKAMAIL_CRASH_KILLS") ?? 2 + rng.Next(2);
        Log($"seed={seed} emails={total} kills={killCount}");

        await using var h = await MailHarness.StartAsync(output, "inproc");
        await using var pump = new WebhookPump(h.Fake, r => r.StartsWith("bounce-", StringComparison.Ordinal), TimeSpan.FromMilliseconds(50));

        var clock = Stopwatch.StartNew();
        var accepted = new ConcurrentDictionary<string, bool>();
        var killAt = Enumerable.Range(0, killCount).Select(_ => (int)(total * (0.15 + 0.7 * rng.NextDouble()))).Order().ToArray();
        var next = 0;
        async Task ClientAsync(int from, int step)
        {
            for (var i = from; i < total; i += step)
            {
                var to = (i % 7 == 3 ? "bounce-" : "") + $"stats-{seed}-{i}@example.com";
                var body = new
                {
                    from = "Shop <shop@example.com>", to = new[] { to }, subject = $"#{i}", text = "Your order",
                    tags = i % 2 == 0 ? new[] { Tag } : Array.Empty<string>(),
                };
                while (true)
                {
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = MailHarness.Json(body) };
                        request.Headers.Add("Idempotency-Key", $"stats-crash-{seed}-{i}");
                        using var r = await h.Api.SendAsync(request);
                        if (r.StatusCode == HttpStatusCode.Accepted)
                        {
                            accepted[JsonNode.Parse(await r.Content.ReadAsStringAsync())!["id"]!.GetValue<string>()] = true;
                            break;
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                    await Task.Delay(100);
                }
            }
        }
        var killer = Task.Run(async () =>
        {
            while (next < killAt.Length)
            {
                if (accepted.Count >= killAt[next])
                {
                    await Task.Delay(rng.Next(0, 250));
                    await h.Service.KillAsync();
                    var ready = await h.Service.StartAsync();
                    Log($"kill {next + 1}/{killAt.Length} at {clock.Elapsed.TotalSeconds:0.0}s: {accepted.Count} accepted; ready in {ready.TotalSeconds:0.0}s");
                    next++;
                }
                else await Task.Delay(20);
            }
        });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(c => Task.Run(() => ClientAsync(c, 8))));
        await killer;
        Log($"load done at {clock.Elapsed.TotalSeconds:0.0}s: {accepted.Count} accepted");

        // Settle: every accepted email has its final fate; then recount from what the API says about each.
        var deadline = clock.Elapsed + TimeSpan.FromSeconds(120);
        var emails = new Dictionary<string, JsonNode>();
        foreach (var id in accepted.Keys)
            while (clock.Elapsed < deadline)
            {
                var (status, body) = await h.GetEmailAsync(id);
                if (status == HttpStatusCode.OK && body!["status"]!.GetValue<string>() is "delivered" or "failed")
                {
                    emails[id] = body;
                    break;
                }
                await Task.Delay(100);
            }
        Assert.Equal(accepted.Count, emails.Count);
        Recount RecountOf(IEnumerable<JsonNode> some)
        {
            var list = some.ToList();
            var recipients = list.SelectMany(e => e["recipients"]!.AsArray().Select(r => (Sent: e["providerMessageId"] is not null, Status: r!["status"]!.GetValue<string>()))).ToList();
            var bounced = recipients.Count(r => r.Sent && r.Status == "failed");
            var failedUnsent = list.Where(e => e["providerMessageId"] is null).Sum(e => e["recipients"]!.AsArray().Count);
            return new Recount(list.Count, list.Where(e => e["providerMessageId"] is not null).Sum(e => e["recipients"]!.AsArray().Count),
                recipients.Count(r => r.Status == "delivered"), bounced, bounced + failedUnsent);
        }
        var expectedAll = RecountOf(emails.Values);
        var expectedTag = RecountOf(emails.Values.Where(e => e["tags"]!.AsArray().Any(t => t!.GetValue<string>() == Tag)));
        Assert.True(expectedAll.Bounced > 0 && expectedAll.Delivered > 0, $"{expectedAll}");

        Recount? all = null, tagged = null;
        while (clock.Elapsed < deadline + TimeSpan.FromSeconds(30))
        {
            all = Recount.Of((await StatsAsync(h.Api, "bucket=hour"))["totals"]!);
            tagged = Recount.Of((await StatsAsync(h.Api, $"bucket=minute&tag={Tag}"))["totals"]!);
            if (all == expectedAll && tagged == expectedTag) break;
            await Task.Delay(250);
        }
        Log($"SUMMARY seed={seed} emails={accepted.Count} kills={killAt.Length} expected={expectedAll} stats={all} " +
            $"expected[{Tag}]={expectedTag} stats[{Tag}]={tagged}");
        Assert.Equal(expectedAll, all);
        Assert.Equal(expectedTag, tagged);
    }

    private static async Task<JsonNode> StatsAsync(HttpClient api, string query)
    {
        using var r = await api.GetAsync("/api/stats?" + query);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
    }
}

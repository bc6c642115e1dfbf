using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// Outbound webhooks under kill -9: the service (its own process) sends emails whose every change goes to a receiver on
/// loopback, and is killed with SIGKILL a few times mid-run and started again on the same data. Afterwards every change
/// of every accepted email reached the receiver (answered 200) at least once, and the first arrivals of each email's
/// changes came in the email's order. Duplicates are allowed only for deliveries in flight at a kill: they are counted
/// and reported, not failed. Knobs: AKKAMAIL_CRASH_SEED, AKKAMAIL_WEBHOOK_CRASH_EMAILS (default 500),
/// AKKAMAIL_CRASH_KILLS (default 2-3).
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class OutboundWebhookCrashTests(ITestOutputHelper output)
{
    private static int? EnvInt(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : null;

    private void Log(string line)
    {
        try { output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}"); }
        catch (InvalidOperationException) { }
    }

    private sealed record Arrival(string WebhookId, string EmailId, long Version);

    [Fact]
    public async Task Kill_9_mid_run_loses_no_webhook_delivery()
    {
        var seed = EnvInt("AKKAMAIL_CRASH_SEED") ?? Random.Shared.Next(1, int.MaxValue);
        var rng = new Random(seed);
        var total = EnvInt("AKKAMAIL_WEBHOOK_CRASH_EMAILS") ?? 500;
        var killCount = EnvInt("AKKAMAIL_CRASH_KILLS") ?? 2 + rng.Next(2);
        Log($"seed={seed} emails={total} kills={killCount}");

        // The receiver, in this process: it survives the service's kills.
        var arrivals = new ConcurrentQueue<Arrival>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var data = JsonNode.Parse(await reader.ReadToEndAsync())!["data"]!;
            if (data["emailId"] is { } email)
                arrivals.Enqueue(new Arrival(http.Request.Headers["webhook-id"].ToString(), email.GetValue<string>(), data["version"]!.GetValue<long>()));
            return Results.Ok();
        });
        await receiver.StartAsync();
        var hookUrl = new Uri(new Uri(receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()), "/hook");

        await using var h = await MailHarness.StartAsync(output, "inproc",
            "akkamail.outbound-webhooks { allow-loopback = on, min-backoff = 100ms, max-backoff = 1s, poll-interval = 200ms, " +
            "rate-limit { per-second = 100000, burst = 100000 } }");
        await using var pump = new WebhookPump(h.Fake, _ => false, TimeSpan.FromMilliseconds(50));
        var created = await h.Api.PostAsync("/api/webhooks/endpoints", MailHarness.Json(new { url = hookUrl.ToString() }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        var clock = Stopwatch.StartNew();
        var accepted = new ConcurrentDictionary<string, bool>();
        var killAt = Enumerable.Range(0, killCount).Select(_ => (int)(total * (0.15 + 0.7 * rng.NextDouble()))).Order().ToArray();
        var next = 0;
        async Task ClientAsync(int from, int step)
        {
            for (var i = from; i < total; i += step)
            {
                while (true)
                {
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails")
                            { Content = MailHarness.Json(MailHarness.EmailBody($"hook-{seed}-{i}@example.com", $"#{i}")) };
                        request.Headers.Add("Idempotency-Key", $"hook-crash-{seed}-{i}");
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
                    var before = arrivals.Count;
                    await h.Service.KillAsync();
                    var ready = await h.Service.StartAsync();
                    Log($"kill {next + 1}/{killAt.Length} at {clock.Elapsed.TotalSeconds:0.0}s: {accepted.Count} accepted, {before} webhooks received; ready in {ready.TotalSeconds:0.0}s");
                    next++;
                }
                else await Task.Delay(20);
            }
        });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(c => Task.Run(() => ClientAsync(c, 8))));
        await killer;
        Log($"load done at {clock.Elapsed.TotalSeconds:0.0}s: {accepted.Count} accepted");

        // Settle: every accepted email delivered (the pump plays Mailgun's webhooks), and every change of it received.
        var versions = new Dictionary<string, long>();
        var deadline = clock.Elapsed + TimeSpan.FromSeconds(90);
        foreach (var id in accepted.Keys)
        {
            while (clock.Elapsed < deadline)
            {
                var (status, body) = await h.GetEmailAsync(id);
                if (status == HttpStatusCode.OK && body!["status"]!.GetValue<string>() == "delivered")
                {
                    versions[id] = body["version"]!.GetValue<long>();
                    break;
                }
                await Task.Delay(100);
            }
        }
        Assert.Equal(accepted.Count, versions.Count);
        var expected = versions.Sum(v => v.Value);
        while (clock.Elapsed < deadline && arrivals.Select(a => a.WebhookId).Distinct().Count() < expected) await Task.Delay(200);

        var all = arrivals.ToList();
        var missing = versions.SelectMany(v => Enumerable.Range(1, (int)v.Value).Select(n => $"evt_{v.Key}_{n}"))
            .Except(all.Select(a => a.WebhookId)).ToList();
        var duplicates = all.Count - all.Select(a => a.WebhookId).Distinct().Count();
        var outOfOrder = all.GroupBy(a => a.EmailId)
            .Where(g =>
            {
                var firsts = g.DistinctBy(a => a.WebhookId).Select(a => a.Version).ToList();
                return !firsts.SequenceEqual(firsts.Order());
            }).Select(g => g.Key).ToList();
        Log($"SUMMARY seed={seed} emails={accepted.Count} kills={killAt.Length} changes={expected} received={all.Count} " +
            $"duplicates={duplicates} missing={missing.Count} out-of-order emails={outOfOrder.Count}");
        Assert.Empty(missing.Take(20));
        Assert.Empty(outOfOrder.Take(20));
    }
}

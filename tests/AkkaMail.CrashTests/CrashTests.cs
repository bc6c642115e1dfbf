using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using AkkaMail.Domain;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>The crash tests use a lot of the two cores: one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class CrashCollection
{
    public const string Name = "AkkaMail.CrashTests";
}

/// <summary>
/// The service as its own process under client load, killed with SIGKILL at random moments and started again on
/// the same data. Clients retry with their Idempotency-Key until they get a 202; the Mailgun fake records what was
/// sent and a pump plays its webhooks (delivered, or a bounce for bounce-… addresses) until the service answers 200.
/// Afterwards: every 202 must be an email that settles and was sent (once), the read model must agree with what
/// the journal recovers to, and every bounce answered 200 must be on the suppression list.
/// Knobs (environment): AKKAMAIL_CRASH_SEED, AKKAMAIL_CRASH_EMAILS (default 2000), AKKAMAIL_CRASH_KILLS (default 3-4;
/// 0 checks the harness itself).
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class CrashTests(ITestOutputHelper output)
{
    private static readonly HashSet<string> Settled = ["delivered", "opened", "clicked", "failed", "partially_failed"];

    private sealed record Planned(int Index, string To, bool Bounce, string Key);

    private sealed record FinalView(HttpStatusCode Http, string? Status, long Version, string? ProviderMessageId, string? RecipientStatus);

    private static int? EnvInt(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : null;

    private void Log(string line)
    {
        try { output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}"); }
        catch (InvalidOperationException) { }
    }

    [SkippableTheory]
    [InlineData("inproc")]
    [InlineData("rabbitmq")]
    public async Task Kill_9_at_random_moments_loses_nothing(string transport)
    {
        if (transport == "rabbitmq")
        {
            var why = await RabbitQueues.UnavailableAsync();
            Skip.If(why is not null, why);
        }
        var seed = EnvInt("AKKAMAIL_CRASH_SEED") ?? Random.Shared.Next(1, int.MaxValue);
        var rng = new Random(seed);
        var total = EnvInt("AKKAMAIL_CRASH_EMAILS") ?? 2000;
        var killCount = EnvInt("AKKAMAIL_CRASH_KILLS") ?? 3 + rng.Next(2);
        const int clients = 8;
        Log($"transport={transport} seed={seed} (AKKAMAIL_CRASH_SEED={seed} repeats the plan) emails={total} kills={killCount} clients={clients}");

        var runId = Guid.NewGuid().ToString("N")[..8];
        var plan = Enumerable.Range(0, total).Select(i =>
        {
            var bounce = rng.NextDouble() < 0.10;
            return new Planned(i, bounce ? $"bounce-{runId}-{i}@example.com" : $"user-{runId}-{i}@example.com", bounce, $"crash-{runId}-{i}");
        }).ToArray();
        // Kill when this many emails were accepted (10-90 % of the load), plus a random few ms; every second kill instead
        // comes at the 1st-8th bounce webhook answered 200 after the restart before it (the service promised to remember
        // it, suppression included; a fresh process is at its slowest, and webhooks held back during the downtime arrive
        // together).
        var killAt = Enumerable.Range(0, killCount).Select(_ => (Threshold: (int)(total * (0.1 + 0.8 * rng.NextDouble())), DelayMs: rng.Next(0, 250)))
            .OrderBy(k => k.Threshold).Select((k, n) => (k.Threshold, k.DelayMs, AfterBounce: n % 2 == 1)).ToArray();

        var clock = Stopwatch.StartNew();
        await using var h = await MailHarness.StartAsync(output, transport);
        Log($"service up in {h.FirstStart.TotalSeconds:0.0}s on {h.Service.BaseAddress} data={h.DataPath} fake={h.Fake.BaseUrl}" +
            (h.Rabbit is { } q ? $" queues={q.Prefix}.*" : ""));
        var bounceAddresses = plan.Where(p => p.Bounce).Select(p => p.To).ToHashSet(StringComparer.OrdinalIgnoreCase);
        await using var pump = new WebhookPump(h.Fake, bounceAddresses.Contains, TimeSpan.FromMilliseconds(50));
        TaskCompletionSource<WebhookPump.Posted>? bounceAnswered = null;
        var bouncesToGo = 0;
        pump.OnPosted = p =>
        {
            // SIGKILL on the pump's thread, before anything else runs: as close to the 200 as a test can get.
            if (p is { Event: "failed/permanent", Status: 200 } && Volatile.Read(ref bounceAnswered) is not null
                && Interlocked.Decrement(ref bouncesToGo) == 0 && Interlocked.Exchange(ref bounceAnswered, null) is { } armed)
            {
                h.Service.KillNow();
                armed.TrySetResult(p);
            }
        };

        // ---------------------------------------------------------------- load, and the kills
        var accepted = new string?[total];
        var acceptedCount = 0;
        long transportErrors = 0, serverErrors = 0, rateLimited = 0;
        var unexpected = new ConcurrentQueue<string>();
        var next = -1;
        var loadDeadline = TimeSpan.FromSeconds(90);
        var loadDone = false;
        var lastReadyAt = clock.Elapsed;
        var kills = new List<string>();

        using var load = h.NewClient(h.UserKey, Timeout.InfiniteTimeSpan);
        async Task ClientAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var p = plan[i];
                while (true)
                {
                    if (clock.Elapsed > loadDeadline)
                    {
                        unexpected.Enqueue($"#{i}: no 202 within {loadDeadline.TotalSeconds}s");
                        break;
                    }
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = MailHarness.Json(MailHarness.EmailBody(p.To, $"crash #{i}")) };
                        request.Headers.Add("Idempotency-Key", p.Key);
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        using var r = await load.SendAsync(request, cts.Token);
                        var body = await r.Content.ReadAsStringAsync(cts.Token);
                        if (r.StatusCode == HttpStatusCode.Accepted)
                        {
                            accepted[i] = JsonNode.Parse(body)!["id"]!.GetValue<string>();
                            Interlocked.Increment(ref acceptedCount);
                            break;
                        }
                        if (r.StatusCode == HttpStatusCode.TooManyRequests) Interlocked.Increment(ref rateLimited);
                        else if ((int)r.StatusCode >= 500) Interlocked.Increment(ref serverErrors);
                        else
                        {
                            unexpected.Enqueue($"#{i} {p.Key}: {(int)r.StatusCode} {body}");
                            break;
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                    {
                        Interlocked.Increment(ref transportErrors);
                    }
                    await Task.Delay(100);
                }
            }
        }

        var killer = Task.Run(async () =>
        {
            var n = 0;
            foreach (var (threshold, delayMs, afterBounce) in killAt)
            {
                n++;
                while (!afterBounce && Volatile.Read(ref acceptedCount) < threshold && !Volatile.Read(ref loadDone)) await Task.Delay(5);
                if (Volatile.Read(ref loadDone)) break;
                var moment = $"+{delayMs}ms";
                var nth = 1 + delayMs % 8;
                if (afterBounce)
                {
                    Volatile.Write(ref bouncesToGo, nth);
                    var armed = new TaskCompletionSource<WebhookPump.Posted>(TaskCreationOptions.RunContinuationsAsynchronously);
                    Volatile.Write(ref bounceAnswered, armed);
                    var bounce = await Task.WhenAny(armed.Task, Task.Delay(TimeSpan.FromSeconds(5)));
                    Interlocked.Exchange(ref bounceAnswered, null);
                    moment = bounce == armed.Task ? $"right after the bounce of {armed.Task.Result.Recipient} got 200 (bounce #{nth} since the restart)" : "(not {nth} bounce webhooks within 5s)";
                }
                else await Task.Delay(delayMs);
                var at = clock.Elapsed;
                var acceptedThen = Volatile.Read(ref acceptedCount);
                var sentThen = h.Fake.AcceptedCount;
                await h.Service.KillAsync();
                var ready = await h.Service.StartAsync();
                lastReadyAt = clock.Elapsed;
                var line = $"kill {n}/{killAt.Length} at {at.TotalSeconds:0.00}s {moment}: {acceptedThen} accepted, {sentThen} sent to the fake; ready again in {ready.TotalSeconds:0.0}s";
                lock (kills) kills.Add(line);
                Log(line);
            }
        });

        var loadStart = clock.Elapsed;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(ClientAsync)));
        Volatile.Write(ref loadDone, true);
        await killer;
        var loadEnd = clock.Elapsed;
        var acceptedIds = accepted.Where(a => a is not null).Select(a => a!).ToArray();
        Log($"load done in {(loadEnd - loadStart).TotalSeconds:0.0}s: {acceptedIds.Length}/{total} accepted; client retries: {transportErrors} transport errors, " +
            $"{serverErrors} 5xx, {rateLimited} 429; {unexpected.Count} unexpected answers; {kills.Count} kills");

        // ---------------------------------------------------------------- settle
        var settleBudget = TimeSpan.FromSeconds(45);
        var unsettled = new ConcurrentDictionary<string, string>(acceptedIds.Select(id => KeyValuePair.Create(id, "?")));
        var settleStart = clock.Elapsed;
        // A service that makes no progress for this long is stuck, not slow (sweeps every 2 s, attempt timeout 5 s):
        // giving up early keeps a failing run short.
        var stuckAfter = TimeSpan.FromSeconds(15);
        var lastProgress = clock.Elapsed;
        var lastCount = unsettled.Count;
        while (!unsettled.IsEmpty && clock.Elapsed - settleStart < settleBudget && clock.Elapsed - lastProgress < stuckAfter)
        {
            if (unsettled.Count < lastCount || pump.Pending > 0)
            {
                lastCount = unsettled.Count;
                lastProgress = clock.Elapsed;
            }
            await Parallel.ForEachAsync(unsettled.Keys.ToArray(), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, ct) =>
            {
                try
                {
                    var (status, body) = await h.GetEmailAsync(id, ct);
                    var s = body?["status"]?.GetValue<string>() ?? $"http {(int)status}";
                    if (Settled.Contains(s)) unsettled.TryRemove(id, out _);
                    else unsettled[id] = s;
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException) { }
            });
            if (!unsettled.IsEmpty) await Task.Delay(250);
        }
        var settledAfterLastRestart = clock.Elapsed - lastReadyAt;
        var settleWaited = clock.Elapsed - settleStart;
        var allSettled = unsettled.IsEmpty;
        Log(allSettled
            ? $"all {acceptedIds.Length} accepted emails settled {settledAfterLastRestart.TotalSeconds:0.0}s after the last restart ({(clock.Elapsed - loadEnd).TotalSeconds:0.0}s after the load)"
            : $"NOT settled after {settleWaited.TotalSeconds:0}s (budget {settleBudget.TotalSeconds:0}s, or {stuckAfter.TotalSeconds:0}s without progress): {unsettled.Count} emails: " +
              string.Join(", ", unsettled.Values.GroupBy(v => v).Select(g => $"{g.Key}={g.Count()}")));

        // Webhooks still being played (duplicates' events) finish before the final look.
        await pump.WaitIdleAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(500); // > read-model.background-window
        var final = new ConcurrentDictionary<string, FinalView>();
        await Parallel.ForEachAsync(acceptedIds, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, ct) =>
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var (http, body) = await h.GetEmailAsync(id, ct);
                    final[id] = new FinalView(http, body?["status"]?.GetValue<string>(), body?["version"]?.GetValue<long>() ?? -1,
                        body?["providerMessageId"]?.GetValue<string>(), body?["recipients"]?.AsArray().FirstOrDefault()?["status"]?.GetValue<string>());
                    return;
                }
                catch (Exception e) when (attempt < 5 && e is HttpRequestException or OperationCanceledException) { await Task.Delay(200, ct); }
            }
        });
        var suppressed = await h.SuppressionsAsync();
        var pendingWebhooks = pump.Pending;
        var posted = pump.PostedEvents;
        h.Service.Quiet();
        await h.Service.KillAsync();
        var rabbitLeft = h.Rabbit is { } rq ? await rq.ReadyCountsAsync() : null;

        // ---------------------------------------------------------------- the journal
        var journal = JournalReader.Fold(Path.Combine(h.DataPath, "events.db"));
        Log($"journal: {journal.Emails.Count} emails, {journal.Events} events, {journal.UnreadableEvents} unreadable" +
            (journal.Problems.Count > 0 ? "; " + string.Join("; ", journal.Problems.Take(5)) : ""));

        // ---------------------------------------------------------------- checks
        var sends = h.Fake.Messages
            .GroupBy(m => m.Variables.TryGetValue("email-id", out var e) ? e : "")
            .ToDictionary(g => g.Key, g => g.Count());
        var planById = new Dictionary<string, Planned>();
        for (var i = 0; i < total; i++) if (accepted[i] is { } id) planById[id] = plan[i];

        string Describe(string id)
        {
            var f = final.GetValueOrDefault(id);
            var j = journal.Emails.GetValueOrDefault(id);
            var p = planById[id];
            return $"{id} (#{p.Index} {(p.Bounce ? "bounce" : "ok")}): GET {(int?)f?.Http} {f?.Status} v{f?.Version} recipient={f?.RecipientStatus}; " +
                   $"journal {(j is null ? "nothing" : $"{j.Status.ToWire()} v{j.Version} phase={j.Phase} attempt={j.Attempt} dispatched={j.Dispatched}")}; " +
                   $"sent to the fake {sends.GetValueOrDefault(id)}x";
        }

        var notFound = acceptedIds.Where(id => final.GetValueOrDefault(id)?.Http != HttpStatusCode.OK).ToList();
        var notSettled = acceptedIds.Except(notFound).Where(id => !Settled.Contains(final[id].Status ?? "")).ToList();
        var neverSent = acceptedIds.Where(id => sends.GetValueOrDefault(id) == 0).ToList();
        var lost = notFound.Union(notSettled).Union(neverSent).ToList();
        // Of those, the ones whose journal is not settled either: lost for good, not only invisible to GET.
        var lostInJournal = lost.Where(id => !journal.Emails.TryGetValue(id, out var s) || !Settled.Contains(s.Status.ToWire())).ToList();
        var duplicated = acceptedIds.Where(id => sends.GetValueOrDefault(id) > 1).ToList();
        var extraSends = duplicated.Sum(id => sends[id] - 1);
        var wrongFate = acceptedIds.Except(lost).Where(id => final[id].Status != (planById[id].Bounce ? "failed" : "delivered")).ToList();

        var notInJournal = acceptedIds.Where(id => !journal.Emails.ContainsKey(id)).ToList();
        var mismatched = acceptedIds.Where(id => final.GetValueOrDefault(id)?.Http == HttpStatusCode.OK)
            .Where(id => !journal.Emails.TryGetValue(id, out var s) || s.Status.ToWire() != final[id].Status).ToList();
        var behind = acceptedIds.Where(id => final.GetValueOrDefault(id)?.Http == HttpStatusCode.OK && journal.Emails.TryGetValue(id, out var s) && final[id].Version < s.Version).ToList();

        // Bounced: the webhook was answered 200, or (a 200 lost with its process, then a "duplicate" 200) the journal has
        // the recipient failed for good. Either way the address must be on the list.
        var bouncedOk = posted.Where(p => p.Event == "failed/permanent" && p.Status == 200).Select(p => p.Recipient).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var bouncedInJournal = journal.Emails.Values.SelectMany(e => e.Recipients.Values)
            .Where(r => r.Status == RecipientStatus.Failed).Select(r => r.Address).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var bounced = bouncedOk.Union(bouncedInJournal, StringComparer.OrdinalIgnoreCase).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var missingSuppressions = bounced.Where(a => !suppressed.Contains(a)).Order().ToList();

        void Examples(string what, IReadOnlyCollection<string> ids)
        {
            if (ids.Count == 0) return;
            Log($"{what}: {ids.Count}, e.g.:");
            foreach (var id in ids.Take(8)) Log("  " + Describe(id));
        }
        Examples("accepted (202) but GET is not 200", notFound);
        Examples("accepted but not settled", notSettled);
        Examples("accepted but never sent to the fake", neverSent);
        Examples("lost and not settled in the journal either", lostInJournal);
        Examples("GET status differs from the journal's recovered status", mismatched);
        Examples("read model version behind the journal (info)", behind);
        Examples("settled with another fate than planned (info)", wrongFate);
        Examples("sent to the fake more than once (info)", duplicated);
        if (missingSuppressions.Count > 0)
            Log($"bounced (webhook answered 200: {bouncedOk.Count}, failed for good in the journal: {bouncedInJournal.Count}) but not on the suppression list: {missingSuppressions.Count}, e.g.:");
        foreach (var a in missingSuppressions.Take(8))
        {
            var answered = posted.Where(p => p.Event == "failed/permanent" && p.Recipient.Equals(a, StringComparison.OrdinalIgnoreCase))
                .Select(p => $"{p.At.UtcDateTime:HH:mm:ss.fff} (attempt {p.Attempts})");
            Log($"  {a}: bounce answered 200 at {string.Join(", ", answered)}");
        }
        foreach (var u in unexpected.Take(10)) Log("unexpected answer: " + u);
        if (rabbitLeft is not null) Log("RabbitMQ ready messages left: " + string.Join(", ", rabbitLeft.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key}={kv.Value}")));

        var summary = $"SUMMARY transport={transport} seed={seed} emails={total} accepted={acceptedIds.Length} kills={kills.Count} " +
                      $"settle={(allSettled ? $"{settledAfterLastRestart.TotalSeconds:0.0}s after the last restart" : $"NEVER ({unsettled.Count} left, waited {settleWaited.TotalSeconds:0}s)")} | " +
                      $"lost={lost.Count} (GET!=200: {notFound.Count}, unsettled: {notSettled.Count}, never sent: {neverSent.Count}; unsettled in the journal too: {lostInJournal.Count}) " +
                      $"journal-mismatch={mismatched.Count} (not in journal: {notInJournal.Count}) readmodel-behind={behind.Count} " +
                      $"missing-suppressions={missingSuppressions.Count}/{bounced.Count} duplicate-sends={extraSends} ({duplicated.Count} emails) " +
                      $"wrong-fate={wrongFate.Count} unexpected-answers={unexpected.Count} webhooks-pending={pendingWebhooks} webhook-retries={pump.NonOkAnswers} " +
                      $"client-retries={transportErrors + serverErrors + rateLimited} test-time={clock.Elapsed.TotalSeconds:0.0}s";
        Log(summary);

        var failures = new List<string>();
        if (acceptedIds.Length != total || !unexpected.IsEmpty) failures.Add($"{total - acceptedIds.Length} emails never got a 202, {unexpected.Count} unexpected answers");
        if (lost.Count > 0) failures.Add($"(a) {lost.Count} accepted emails lost (GET!=200: {notFound.Count}, not settled: {notSettled.Count}, never sent: {neverSent.Count}; of them {lostInJournal.Count} not settled in the journal either)");
        if (mismatched.Count > 0) failures.Add($"(b) {mismatched.Count} emails whose GET status differs from the state their journal recovers to");
        if (missingSuppressions.Count > 0) failures.Add($"(c) {missingSuppressions.Count} bounced addresses missing from the suppression list");
        Assert.True(failures.Count == 0, string.Join("; ", failures) + Environment.NewLine + summary);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// A bounce webhook answered 200 is a promise: the address is suppressed from then on. An email posted right after
/// that 200 must not be sent to the address (its recipient is <c>suppressed</c>). One service (inproc, Mailgun fake
/// without automatic webhooks), many addresses in parallel. Knobs: AKKAMAIL_BOUNCE_REPS (default 400), AKKAMAIL_BOUNCE_PAUSE_MS (default 0).
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class BounceSuppressionTests(ITestOutputHelper output)
{
    private static readonly HashSet<string> Busy = ["queued", "scheduled", "sending", "retrying"];

    private void Log(string line)
    {
        try { output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}"); }
        catch (InvalidOperationException) { }
    }

    [Fact]
    public async Task An_email_posted_right_after_its_bounce_webhook_got_200_is_suppressed()
    {
        var reps = int.TryParse(Environment.GetEnvironmentVariable("AKKAMAIL_BOUNCE_REPS"), out var n) ? n : 400;
        // A pause between the 200 and the second POST (default none): with a few hundred ms the harness checks itself.
        var pause = TimeSpan.FromMilliseconds(int.TryParse(Environment.GetEnvironmentVariable("AKKAMAIL_BOUNCE_PAUSE_MS"), out var ms) ? ms : 0);
        const int parallel = 16;
        var clock = Stopwatch.StartNew();
        await using var h = await MailHarness.StartAsync(output, "inproc");
        h.Service.Ignore = line => line.Contains("every recipient is on the suppression list", StringComparison.Ordinal);
        Log($"service up in {h.FirstStart.TotalSeconds:0.0}s; {reps} repetitions, {parallel} at a time");
        var runId = Guid.NewGuid().ToString("N")[..8];

        var violations = new ConcurrentQueue<string>();
        var harnessProblems = new ConcurrentQueue<string>();
        var webhookNot200 = new ConcurrentQueue<string>();
        var suppressedOk = 0;

        async Task<string> PostAsync(string to, string key)
        {
            for (var attempt = 1; ; attempt++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = MailHarness.Json(MailHarness.EmailBody(to, key)) };
                request.Headers.Add("Idempotency-Key", key);
                using var r = await h.Api.SendAsync(request);
                var body = await r.Content.ReadAsStringAsync();
                if (r.StatusCode == HttpStatusCode.Accepted) return JsonNode.Parse(body)!["id"]!.GetValue<string>();
                if (attempt >= 5 || ((int)r.StatusCode < 500 && r.StatusCode != HttpStatusCode.TooManyRequests))
                    throw new InvalidOperationException($"POST for {to}: {(int)r.StatusCode} {body}");
                await Task.Delay(100);
            }
        }

        async Task<JsonNode> WaitAsync(string id, Func<JsonNode, bool> until, TimeSpan within)
        {
            var deadline = Stopwatch.StartNew();
            JsonNode? last = null;
            while (deadline.Elapsed < within)
            {
                var (status, body) = await h.GetEmailAsync(id);
                if (status == HttpStatusCode.OK && until(body!)) return body!;
                last = body;
                await Task.Delay(20);
            }
            throw new TimeoutException($"{id}: not as expected within {within.TotalSeconds}s; last: {last?.ToJsonString()}");
        }

        await Parallel.ForEachAsync(Enumerable.Range(0, reps), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, _) =>
        {
            var address = $"bounce-{runId}-{i}@example.com";
            try
            {
                var first = await PostAsync(address, $"bounce-{runId}-{i}-first");
                var sent = await WaitAsync(first, e => e["providerMessageId"]?.GetValue<string>() is { Length: > 0 }, TimeSpan.FromSeconds(20));
                var messageId = sent["providerMessageId"]!.GetValue<string>();
                var delivery = await h.Fake.PostWebhookAsync(messageId, address, FakeWebhookEvent.PermanentFailure);
                if (delivery.StatusCode != 200)
                {
                    webhookNot200.Enqueue($"#{i}: the bounce webhook was answered {delivery.StatusCode?.ToString() ?? delivery.Error}");
                    return;
                }
                // At once: the 200 said the bounce is recorded.
                if (pause > TimeSpan.Zero) await Task.Delay(pause);
                var second = await PostAsync(address, $"bounce-{runId}-{i}-second");
                var view = await WaitAsync(second, e => !Busy.Contains(e["status"]!.GetValue<string>()), TimeSpan.FromSeconds(20));
                var recipient = view["recipients"]!.AsArray().First()!["status"]!.GetValue<string>();
                if (recipient == "suppressed")
                    Interlocked.Increment(ref suppressedOk);
                else
                    violations.Enqueue($"#{i} {address}: second email {second} status {view["status"]}, recipient {recipient}, " +
                                       $"sent to the fake {h.Fake.Messages.Count(m => m.Variables.GetValueOrDefault("email-id") == second)}x");
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException or HttpRequestException or TaskCanceledException)
            {
                harnessProblems.Enqueue($"#{i} {address}: {e.GetType().Name}: {e.Message}");
            }
        });

        // Cross-check with the provider's side: second emails the fake received.
        var secondSends = h.Fake.Messages.Count(m => m.Subject?.EndsWith("-second", StringComparison.Ordinal) == true);
        foreach (var v in violations.Take(10)) Log("VIOLATION " + v);
        foreach (var p in harnessProblems.Take(10)) Log("problem " + p);
        foreach (var w in webhookNot200.Take(10)) Log("webhook " + w);
        var summary = $"SUMMARY repetitions={reps} suppressed={suppressedOk} violations={violations.Count} second-emails-sent-to-the-fake={secondSends} " +
                      $"bounce-webhook-not-200={webhookNot200.Count} other-problems={harnessProblems.Count} test-time={clock.Elapsed.TotalSeconds:0.0}s";
        Log(summary);
        Assert.True(violations.IsEmpty && secondSends == 0, $"{violations.Count} emails posted after their address's bounce got 200 were not suppressed. {summary}");
        Assert.True(harnessProblems.IsEmpty && webhookNot200.IsEmpty, $"{harnessProblems.Count} repetitions could not be run, {webhookNot200.Count} bounce webhooks not answered 200. {summary}");
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using AkkaMail.Tests.Postgres;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// Three service processes on 127.0.0.1 (their own HTTP and Akka ports) as one Akka.NET cluster on a shared PostgreSQL
/// database and RabbitMQ queue, the Mailgun fake on loopback, under client load spread over the three:
/// <list type="number">
/// <item>one node is killed with SIGKILL mid-run: no accepted email is lost, emails are sent twice only within the dead
/// node's in-flight window (counted), the survivors settle every email of the dead node within a stated time, the
/// webhooks (all posted to a surviving node) are applied to emails that lived on the dead one, and a SignalR client
/// on node 1 sees every email's changes, wherever the email lived;</item>
/// <item>the dead node comes back, then a rolling restart (SIGTERM, start again) of all three under load: no accepted
/// email is lost and the nodes that stay up never answer 5xx.</item>
/// </list>
/// </summary>
[Collection(CrashCollection.Name)]
public sealed class ClusterTests(ITestOutputHelper output)
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    /// <summary>The key every node encrypts webhook endpoint secrets with (a cluster needs one, shared).</summary>
    private static readonly string SecretsKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    /// <summary>How long the survivors may take to settle every email once a node died: the split-brain resolver's
    /// 5 s (set below) plus failure detection, shard hand-over, the sweep's pickup timeout and retries.</summary>
    private static readonly TimeSpan SettleWithin = TimeSpan.FromSeconds(120);

    private void Log(string line)
    {
        try { output.WriteLine($"[{DateTime.UtcNow:HH:mm:ss.fff}] {line}"); }
        catch (InvalidOperationException) { }
    }

    private sealed class Node(int index, ServiceProcess process, HttpClient api)
    {
        public int Index { get; } = index;
        public ServiceProcess Process { get; } = process;
        public HttpClient Api { get; set; } = api;
        public volatile bool Up = true;
    }

    [SkippableFact]
    public async Task Three_nodes_lose_nothing_when_one_is_killed_and_during_a_rolling_restart()
    {
        var why = await RabbitQueues.UnavailableAsync();
        Skip.If(why is not null, why);
        using var database = new PostgresTestDatabase("akkamail_cluster");
        await using var rabbit = new RabbitQueues();
        var httpPorts = Enumerable.Range(0, 3).Select(_ => ServiceProcess.FreePort()).ToArray();
        var akkaPorts = Enumerable.Range(0, 3).Select(_ => ServiceProcess.FreePort()).ToArray();
        var webhookNode = 2; // index of the node Mailgun posts its webhooks to: never the one killed
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = MailHarness.Domain, ApiKey = MailHarness.ApiKey, WebhookSigningKey = MailHarness.SigningKey,
            WebhookUrl = $"http://127.0.0.1:{httpPorts[webhookNode]}/api/webhooks/mailgun",
            WebhookEvents = [], Latency = TimeSpan.FromMilliseconds(5), WebhookTimeout = TimeSpan.FromSeconds(5),
        });
        var hocon = $$"""
            akkamail {
              sender { parallelism = 8, attempt-timeout = 5s, rate-limit { per-second = 100000, burst = 100000 } }
              retry { min-backoff = 200ms, max-backoff = 1s, jitter = 0.1 }
              sweep { interval = 2s, pickup-timeout = 5s }
            }
            # Three services, PostgreSQL, RabbitMQ and the test share two cores: a heartbeat may be late by seconds
            # without the node being gone, and a node downed for that shuts itself down.
            akka.cluster.failure-detector.acceptable-heartbeat-pause = 10s
            {{rabbit.Hocon}}
            """;
        var dataPaths = Enumerable.Range(0, 3).Select(i => Path.Combine(Path.GetTempPath(), $"akkamail-cluster-{Guid.NewGuid():N}"[..32] + $"-n{i + 1}")).ToArray();
        foreach (var d in dataPaths) Directory.CreateDirectory(d);
        var nodes = new Node[3];
        for (var i = 0; i < 3; i++)
        {
            var env = new Dictionary<string, string>
            {
                ["Mailgun__BaseUrl"] = fake.BaseUrl, ["Mailgun__Domain"] = MailHarness.Domain, ["Mailgun__ApiKey"] = MailHarness.ApiKey,
                ["Mailgun__WebhookSigningKey"] = MailHarness.SigningKey, ["Mailgun__Timeout"] = "00:00:05",
                ["AkkaMail__HoconOverrides"] = hocon, ["RabbitMq__Uri"] = RabbitQueues.Uri,
                ["ConnectionStrings__Postgres"] = database.ConnectionString,
                ["AkkaMail__Cluster__Enabled"] = "true", ["AkkaMail__Cluster__Port"] = akkaPorts[i].ToString(),
                // Every node is a seed, so that a restarted node finds the cluster through whichever others are up.
                ["AkkaMail__Cluster__SeedNodes__0"] = $"akka.tcp://akkamail@127.0.0.1:{akkaPorts[0]}",
                ["AkkaMail__Cluster__SeedNodes__1"] = $"akka.tcp://akkamail@127.0.0.1:{akkaPorts[1]}",
                ["AkkaMail__Cluster__SeedNodes__2"] = $"akka.tcp://akkamail@127.0.0.1:{akkaPorts[2]}",
                ["AkkaMail__Cluster__DownAfter"] = "00:00:05",
                // The first seed forms the cluster after 15 s alone (default 30 s: this test starts it alone, and waits).
                ["AkkaMail__Cluster__FormAfter"] = "00:00:15",
                ["OutboundWebhooks__SecretsKey"] = SecretsKey,
                // Singleton (the default) unless told otherwise, to run the same test on the other placement.
                ["AkkaMail__Cluster__ReadSide"] = Environment.GetEnvironmentVariable("AKKAMAIL_TEST_CLUSTER_READ_SIDE") ?? "Singleton",
            };
            var process = new ServiceProcess(output, httpPorts[i], dataPaths[i],
                ["--AkkaMail:Provider=mailgun", "--AkkaMail:Transport=rabbitmq", "--AkkaMail:Store=postgres",
                 "--AkkaMail:RateLimit:PerSecond=100000", "--AkkaMail:RateLimit:Burst=100000",
                 // Information, for the cluster's own account of joining and downing (kept in the log, see MembershipLog).
                 "--AkkaMail:LogLevel=Information"], env)
            {
                // Expected while nodes come and go: the others are told, and said so.
                Ignore = line => line.Contains(" INF] ", StringComparison.Ordinal) || line.Contains("Akka.Remote", StringComparison.Ordinal) || line.Contains("Cluster", StringComparison.Ordinal)
                                 || line.Contains("Association", StringComparison.Ordinal) || line.Contains("dead letters", StringComparison.Ordinal)
                                 || line.Contains("every recipient is on the suppression list", StringComparison.Ordinal),
            };
            nodes[i] = new Node(i, process, null!);
        }
        try
        {
            // Node 1 creates the admin user in the shared store; the others find it there (its key file is node 1's).
            Log($"node 1 ready in {(await nodes[0].Process.StartAsync(TimeSpan.FromSeconds(120))).TotalSeconds:0.0}s");
            foreach (var n in nodes.Skip(1)) File.Copy(nodes[0].Process.AdminKeyPath, n.Process.AdminKeyPath);
            await Task.WhenAll(nodes.Skip(1).Select(async n => Log($"node {n.Index + 1} ready in {(await n.Process.StartAsync(TimeSpan.FromSeconds(120))).TotalSeconds:0.0}s")));

            using var admin = Client(nodes[0].Process.BaseAddress, await nodes[0].Process.AdminKeyAsync());
            var created = await admin.PostAsJsonAsync("/api/users", new { name = "cluster-" + Guid.NewGuid().ToString("N")[..6], defaultFrom = "Shop <shop@example.com>" }, Web);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var key = JsonNode.Parse(await created.Content.ReadAsStringAsync())!["apiKey"]!.GetValue<string>();
            foreach (var n in nodes) n.Api = Client(n.Process.BaseAddress, key);

            // A real-time client on node 1: it must see the changes of emails that live on any node.
            var seenDelivered = new ConcurrentDictionary<string, byte>();
            await using var hub = new HubConnectionBuilder()
                .WithUrl(new Uri(nodes[0].Process.BaseAddress, "/hubs/emails"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(key))
                .Build();
            hub.On<JsonElement>("emailStatus", m =>
            {
                if (m.GetProperty("status").GetString() == "delivered") seenDelivered.TryAdd(m.GetProperty("emailId").GetString()!, 0);
            });
            await hub.StartAsync();
            await hub.InvokeAsync("SubscribeAll");

            // Addresses starting "bounce-" bounce (phase 1b); every other one is delivered.
            await using var pump = new WebhookPump(fake, to => to.StartsWith("bounce-", StringComparison.Ordinal), TimeSpan.FromMilliseconds(50));
            var bounceAnswered = new ConcurrentDictionary<string, TaskCompletionSource<int>>();
            pump.OnPosted = p =>
            {
                // The bounce itself (the pump posts the provider's "accepted" first).
                if (p.Recipient.StartsWith("bounce-", StringComparison.Ordinal) && p.Event == "failed/permanent")
                    bounceAnswered.GetOrAdd(p.EmailId, _ => new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(p.Status);
            };
            var runId = Guid.NewGuid().ToString("N")[..8];
            var accepted = new ConcurrentDictionary<string, string>(); // idempotency key -> email id
            var fiveHundreds = new ConcurrentQueue<string>();

            // 1. Load spread over the three; node 2 killed with SIGKILL once a third of the emails are accepted.
            const int firstRun = 600;
            var killed = new TaskCompletionSource<TimeSpan>();
            var clock = Stopwatch.StartNew();
            await SendAsync(nodes, runId + "-a", firstRun, accepted, fiveHundreds, onAccepted: count =>
            {
                if (count != firstRun / 3 || !nodes[1].Up) return;
                nodes[1].Up = false;
                nodes[1].Process.KillNow();
                killed.TrySetResult(clock.Elapsed);
                Log($"node 2 killed (SIGKILL) after {count} accepted");
            }, fiveHundredsCount: _ => true);
            Assert.True(killed.Task.IsCompleted, "node 2 was never killed");
            var killedAt = await killed.Task;
            Log($"{accepted.Count} accepted ({fiveHundreds.Count} answers 5xx or none, retried on another node)");

            var settled = await WaitSettledAsync(nodes[0], accepted.Values, SettleWithin);
            Log($"every accepted email settled {(clock.Elapsed - killedAt).TotalSeconds:0.0}s after the kill");
            Assert.True(settled.Missing.Count == 0, $"{settled.Missing.Count} accepted emails not delivered within {SettleWithin}: {string.Join(", ", settled.Missing.Take(5))}");

            var sends = SendsPerEmail(fake);
            var lost = accepted.Values.Where(id => !sends.ContainsKey(id)).ToList();
            var twice = sends.Where(s => s.Value > 1).ToList();
            Log($"sent: {sends.Count} emails, {twice.Count} of them twice or more (the dead node's in-flight window)");
            Assert.Empty(lost);
            // The dead node had at most its sender's parallelism (8) in flight with the provider, plus the deliveries
            // prefetched and the attempts its emails' actors had started when it died; each is sent again at most once.
            Assert.True(twice.Count <= 64, $"{twice.Count} emails sent more than once");
            Assert.All(twice, t => Assert.True(t.Value <= 2, $"email {t.Key} sent {t.Value} times"));

            // Every webhook went to node 3; a third of the emails had lived on node 2.
            await pump.WaitIdleAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, pump.Pending);
            var missedByHub = await WaitForAsync(() => accepted.Values.Where(id => !seenDelivered.ContainsKey(id)).ToList(), TimeSpan.FromSeconds(30));
            Assert.True(missedByHub.Count == 0, $"the SignalR client on node 1 never saw {missedByHub.Count} emails delivered, e.g. {string.Join(", ", missedByHub.Take(3))}");

            // 1b. A bounce answered 200 by node 3 is a promise: the next POST to that address, on node 1, finds it
            // suppressed, wherever the email lived and whichever node projects the read side (once per cluster; the
            // others follow its progress).
            var notSuppressed = new ConcurrentQueue<string>();
            await Parallel.ForEachAsync(Enumerable.Range(0, 24), new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (i, _) =>
            {
                var address = $"bounce-{runId}-{i}@example.com";
                var first = await PostUntilAcceptedAsync(nodes[0], address, $"{runId}-bounce-{i}-first");
                var answered = bounceAnswered.GetOrAdd(first, _ => new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously));
                var status = await answered.Task.WaitAsync(TimeSpan.FromSeconds(60));
                if (status != 200)
                {
                    notSuppressed.Enqueue($"{address}: its bounce webhook was answered {status}");
                    return;
                }
                var second = await PostUntilAcceptedAsync(nodes[0], address, $"{runId}-bounce-{i}-second");
                var recipient = await RecipientStatusWhenSettledAsync(nodes[0], second, TimeSpan.FromSeconds(60));
                if (recipient == "suppressed") return;
                // What went wrong: is the address on the list by now (too early) or not at all (never projected)?
                using var listed = await nodes[0].Api.GetAsync($"/api/suppressions/{Uri.EscapeDataString(address)}");
                using var firstNow = await nodes[0].Api.GetAsync($"/api/emails/{first}");
                var firstView = JsonNode.Parse(await firstNow.Content.ReadAsStringAsync());
                notSuppressed.Enqueue($"{address}: the email posted after its bounce's 200 has recipient status {recipient}; " +
                    $"suppression list now: {(int)listed.StatusCode}; first email now {firstView?["status"]} " +
                    $"[{string.Join(",", firstView?["timeline"]?.AsArray().Select(t => t?["type"]?.GetValue<string>()) ?? [])}]; " +
                    "logs: " + string.Join(" | ", nodes.SelectMany(n => n.Process.Log.Where(l => l.Contains(first, StringComparison.Ordinal))
                        .Select(l => $"node {n.Index + 1}: {(l.Length > 240 ? l[..240] : l)}"))));
            });
            Log($"bounces through node 3, next POST through node 1: {24 - notSuppressed.Count} of 24 suppressed");
            Assert.True(notSuppressed.IsEmpty, string.Join("; ", notSuppressed.Take(5)));

            // 2. Node 2 back, then a rolling restart of all three under load.
            await nodes[1].Process.StartAsync(TimeSpan.FromSeconds(120));
            nodes[1].Up = true;
            Log("node 2 back");
            var acceptedBefore = accepted.Count;
            fiveHundreds.Clear();
            using var stopLoad = new CancellationTokenSource();
            var load = SendAsync(nodes, runId + "-b", int.MaxValue, accepted, fiveHundreds, onAccepted: _ => { },
                fiveHundredsCount: node => node.Up, stop: stopLoad.Token);
            foreach (var node in nodes)
            {
                await Task.Delay(TimeSpan.FromSeconds(3));
                node.Up = false;
                var restart = Stopwatch.StartNew();
                await node.Process.StopAsync(TimeSpan.FromSeconds(60));
                await node.Process.StartAsync(TimeSpan.FromSeconds(120));
                node.Up = true;
                Log($"node {node.Index + 1} restarted in {restart.Elapsed.TotalSeconds:0.0}s ({accepted.Count - acceptedBefore} accepted so far)");
            }
            await Task.Delay(TimeSpan.FromSeconds(3));
            stopLoad.Cancel();
            await load;
            Log($"rolling restart: {accepted.Count - acceptedBefore} accepted; answers 5xx from nodes that stayed up: {fiveHundreds.Count}");
            Assert.True(fiveHundreds.IsEmpty, "5xx from nodes that stayed up: " + string.Join("; ", fiveHundreds.Take(5)));

            settled = await WaitSettledAsync(nodes[0], accepted.Values, SettleWithin);
            Assert.True(settled.Missing.Count == 0, $"{settled.Missing.Count} accepted emails not delivered after the rolling restart: {string.Join(", ", settled.Missing.Take(5))}");
            sends = SendsPerEmail(fake);
            var lostAfterRestart = accepted.Values.Count(id => !sends.ContainsKey(id));
            Assert.Equal(0, lostAfterRestart);
            Log($"after the rolling restart: {sends.Count} emails sent, {sends.Count(s => s.Value > 1)} more than once in all");
        }
        catch (Exception e) when (e is not SkipException)
        {
            // What the nodes said about membership last: a red run must say why a node did not join or was downed.
            throw new Xunit.Sdk.XunitException(e.Message + Environment.NewLine + MembershipLog(nodes) + Environment.NewLine + e.StackTrace);
        }
        finally
        {
            foreach (var n in nodes) { n.Process.Quiet(); await n.Process.DisposeAsync(); n.Api?.Dispose(); }
            foreach (var d in dataPaths)
                try { Directory.Delete(d, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The last lines of each node about the cluster (joining, reachability, downing, shutdown), oldest first.</summary>
    private static string MembershipLog(Node[] nodes) =>
        string.Join(Environment.NewLine, nodes.Select(n =>
            $"--- node {n.Index + 1}, membership:" + Environment.NewLine + string.Join(Environment.NewLine,
                n.Process.Log.Where(line => !line.Contains("/health", StringComparison.Ordinal) && !line.Contains("HealthCheck", StringComparison.Ordinal)
                    && (line.Contains("Cluster", StringComparison.Ordinal) || line.Contains("SplitBrain", StringComparison.Ordinal)
                        || line.Contains("Remote", StringComparison.Ordinal) || line.Contains("shutting down", StringComparison.Ordinal)
                        || line.Contains("seed", StringComparison.OrdinalIgnoreCase)))
                    .TakeLast(25).Select(line => line.Length > 300 ? line[..300] : line))));

    private static HttpClient Client(Uri baseAddress, string key)
    {
        var c = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(20),
        };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return c;
    }

    /// <summary>Eight clients POST emails with an Idempotency-Key each, round-robin over the nodes that are up; a request
    /// without a 202 (5xx, no answer, the node gone) is sent again to the next node until it gets one.</summary>
    private async Task SendAsync(Node[] nodes, string prefix, int count, ConcurrentDictionary<string, string> accepted,
        ConcurrentQueue<string> fiveHundreds, Action<int> onAccepted, Func<Node, bool> fiveHundredsCount, CancellationToken stop = default)
    {
        var next = -1;
        var turn = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= count) return;
                var key = $"{prefix}-{i}";
                while (true)
                {
                    var node = nodes[(Interlocked.Increment(ref turn) & int.MaxValue) % nodes.Length];
                    if (!node.Up) continue;
                    var countable = fiveHundredsCount(node);
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails")
                        {
                            Content = MailHarness.Json(MailHarness.EmailBody($"{key}@example.com", key)),
                        };
                        request.Headers.Add("Idempotency-Key", key);
                        using var response = await node.Api.SendAsync(request);
                        if (response.StatusCode == HttpStatusCode.Accepted)
                        {
                            var id = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
                            if (accepted.TryAdd(key, id)) onAccepted(accepted.Count);
                            break;
                        }
                        if ((int)response.StatusCode >= 500 && countable && node.Up)
                            fiveHundreds.Enqueue($"node {node.Index + 1}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        if (countable && node.Up) fiveHundreds.Enqueue($"node {node.Index + 1}: {e.GetType().Name}: {e.Message}");
                    }
                    await Task.Delay(200);
                }
            }
        }));
    }

    private sealed record Settled(List<string> Missing);

    /// <summary>Waits until every email reads as delivered through <paramref name="node"/>.</summary>
    private async Task<Settled> WaitSettledAsync(Node node, IEnumerable<string> ids, TimeSpan within)
    {
        var pending = new ConcurrentDictionary<string, byte>(ids.Select(id => KeyValuePair.Create(id, (byte)0)));
        var until = DateTime.UtcNow + within;
        while (!pending.IsEmpty && DateTime.UtcNow < until)
        {
            // Several reads at once: thousands of emails read one by one on a loaded machine take minutes.
            await Parallel.ForEachAsync(pending.Keys.ToList(), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, _) =>
            {
                try
                {
                    using var r = await node.Api.GetAsync($"/api/emails/{id}");
                    if (r.IsSuccessStatusCode && JsonNode.Parse(await r.Content.ReadAsStringAsync())!["status"]!.GetValue<string>() == "delivered")
                        pending.TryRemove(id, out byte _);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            });
            if (!pending.IsEmpty) await Task.Delay(1000);
        }
        return new Settled([.. pending.Keys]);
    }

    private static async Task<string> PostUntilAcceptedAsync(Node node, string to, string key)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails")
            {
                Content = MailHarness.Json(MailHarness.EmailBody(to, key)),
            };
            request.Headers.Add("Idempotency-Key", key);
            using var r = await node.Api.SendAsync(request);
            var body = await r.Content.ReadAsStringAsync();
            if (r.StatusCode == HttpStatusCode.Accepted) return JsonNode.Parse(body)!["id"]!.GetValue<string>();
            if (attempt >= 5 || ((int)r.StatusCode < 500 && r.StatusCode != HttpStatusCode.TooManyRequests))
                throw new InvalidOperationException($"POST to {to}: {(int)r.StatusCode} {body}");
            await Task.Delay(200);
        }
    }

    /// <summary>The first recipient's status once the email is no longer queued, scheduled, sending or retrying.</summary>
    private static async Task<string> RecipientStatusWhenSettledAsync(Node node, string id, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        string? last = null;
        while (deadline.Elapsed < within)
        {
            using var r = await node.Api.GetAsync($"/api/emails/{id}");
            last = await r.Content.ReadAsStringAsync();
            if (r.IsSuccessStatusCode && JsonNode.Parse(last) is { } email
                && email["status"]!.GetValue<string>() is not ("queued" or "scheduled" or "sending" or "retrying"))
                return email["recipients"]![0]!["status"]!.GetValue<string>();
            await Task.Delay(50);
        }
        throw new TimeoutException($"{id} not settled within {within}; last answer: {last}");
    }

    private static Dictionary<string, int> SendsPerEmail(MailgunFakeServer fake) =>
        fake.Messages.GroupBy(m => m.Variables.TryGetValue("email-id", out var e) ? e : "")
            .ToDictionary(g => g.Key, g => g.Count());

    private static async Task<List<T>> WaitForAsync<T>(Func<List<T>> remaining, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        var left = remaining();
        while (left.Count > 0 && DateTime.UtcNow < until)
        {
            await Task.Delay(250);
            left = remaining();
        }
        return left;
    }
}

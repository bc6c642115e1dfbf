using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Event;
using AkkaMail.Actors;
using AkkaMail.Api;
using AkkaMail.Domain;
using AkkaMail.Providers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

// AkkaMail benchmark (issue 4): (a) raw RabbitMQ.Client publish-with-confirms + consume-with-ack, (b) the service
// end to end over real HTTP: POST N emails with concurrency C until every one is `sent`.
//   dotnet run -c Release --project bench/AkkaMail.Bench -- --emails 5000 --concurrency 32 --transport rabbitmq
// On PostgreSQL (AkkaMail:Store=postgres) instead of SQLite:
//   PGPASSWORD=akkamail dotnet run -c Release --project bench/AkkaMail.Bench -- --postgres "Host=127.0.0.1;Username=akkamail;Database=postgres"
// (a role that may create databases: each run gets a database of its own, dropped afterwards; the password from
// PGPASSWORD, so that the printed options do not show it).
// N service processes as one cluster on PostgreSQL (e): see ClusterBench.
//   PGPASSWORD=akkamail dotnet run -c Release --project bench/AkkaMail.Bench -- --nodes 3 --postgres "Host=127.0.0.1;Username=akkamail;Database=postgres"
// Provider failover (issue 21): --provider-errors 0.3 (Mailgun alone, 30% of its answers errors, retried) beside
// --provider-errors 0.3 --failover (the route mailgun → smtp, the test SMTP server on loopback).
if (args.Contains("--soak"))
{
    // Issue 22: bytes on disk over time under a steady load, without and with the retention policies.
    //   dotnet run -c Release --project bench/AkkaMail.Bench -- --soak [--rate 20] [--steps 9] [--step-seconds 5]
    string SoakArg(string name, string dflt) => Array.IndexOf(args, "--" + name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : dflt;
    var soakRate = int.Parse(SoakArg("rate", "20"));
    var steps = int.Parse(SoakArg("steps", "9"));
    var stepSeconds = int.Parse(SoakArg("step-seconds", "5"));
    Console.WriteLine($"AkkaMail soak: {soakRate} emails/s with 10 KB bodies (SQLite, in-process queue, sandbox outbox); " +
                      $"every {stepSeconds} s the service's clock jumps 12 h and the retention job runs; {steps} steps per mode");
    await Soak.RunAsync(withRetention: false, soakRate, steps, stepSeconds);
    await Soak.RunAsync(withRetention: true, soakRate, steps, stepSeconds);
    return;
}
if (args.Contains("--stats"))
{
    // Issue 23: the statistics query at 1 M emails (see StatsBench).
    string StatsArg(string name, string dflt) => Array.IndexOf(args, "--" + name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : dflt;
    await StatsBench.RunAsync(int.Parse(StatsArg("emails", "1000000")), int.Parse(StatsArg("queries", "40")));
    return;
}
if (args.Contains("--search"))
{
    // Issue 23: search at 1 M emails in a SQLite read model (see SearchBench).
    string SearchArg(string name, string dflt) => Array.IndexOf(args, "--" + name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : dflt;
    var count = int.Parse(SearchArg("emails", "1000000"));
    Console.WriteLine($"AkkaMail search bench: {count:N0} generated emails of one user in a SQLite read model; {Environment.ProcessorCount} cores");
    await SearchBench.RunAsync(count, double.Parse(SearchArg("seconds-per-query", "15"), System.Globalization.CultureInfo.InvariantCulture));
    return;
}
var opts = BenchOptions.Parse(args);
Console.WriteLine($"AkkaMail bench: {opts}");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
// Issue 24's plain .NET yardstick under the same harness (y); bench/yardstick.sh alternates it with (b).
if (args.Contains("--yardstick"))
{
    await YardstickBench.RunAsync(opts);
    return;
}
if (Array.IndexOf(args, "--nodes") is var nodesAt and >= 0)
{
    await ClusterBench.RunAsync(opts, int.Parse(args[nodesAt + 1]));
    return;
}

// (a) is measured around (b): half of its rounds before, half after, so that both see the machine alike (its speed
// drifts over tens of seconds). One round varies by 20-40 % (9,000-15,000 msg/s back to back): the median of the
// rounds is the yardstick, and every round is printed.
var rawRounds = new List<double>();
var measureRaw = opts.RawMessages > 0 && opts.Transport == "rabbitmq" && !opts.PostOnly;
async Task RawRoundsAsync(int count)
{
    for (var i = 0; i < count; i++) rawRounds.Add(await RawRabbit.RunAsync(opts.Uri, opts.RawMessages, opts.RawRate, opts.RawBurst));
}
if (measureRaw) await RawRoundsAsync((opts.RawRounds + 1) / 2);
using var diagnostics = args.Contains("--diagnose") ? new RuntimeDiagnostics() : null;
var e2e = await EndToEnd.RunAsync(opts, diagnostics);
diagnostics?.Print();
double? raw = null;
if (measureRaw)
{
    var before = rawRounds.Count;
    await RawRoundsAsync(opts.RawRounds / 2);
    var sorted = rawRounds.Order().ToList();
    raw = (sorted[(sorted.Count - 1) / 2] + sorted[sorted.Count / 2]) / 2;
    Console.WriteLine($"(a) raw RabbitMQ.Client publish-with-confirms + consume-with-ack: {raw:0} msg/s ({opts.RawMessages} x 1 KB persistent; " +
                      $"median of {rawRounds.Count} rounds, before (b): {string.Join(", ", rawRounds.Take(before).Select(r => r.ToString("0")))}; " +
                      $"after: {string.Join(", ", rawRounds.Skip(before).Select(r => r.ToString("0")))})");
}
if (opts.PostOnly)
{
    Console.WriteLine($"(b') API accept path only (--post-only: the sender is not awaited; use --rate 1 to keep it idle): " +
                      $"{e2e.PostRate:0} POSTs/s, recovery of new emails {(opts.SkipRecovery ? "skipped" : "default")}");
    Console.WriteLine($"    API latency: p50 {e2e.P50:0.0} ms, p95 {e2e.P95:0.0} ms, p99 {e2e.P99:0.0} ms, max {e2e.Max:0.0} ms");
    Console.WriteLine($"    CPU per email: {e2e.CpuMsPerEmail:0.00} ms; allocated per email: {e2e.AllocatedKbPerEmail:0.0} KB; GC: {e2e.Gcs}; {e2e.Threads}");
    Console.WriteLine($"    {e2e.ReadSideLag}");
    return;
}
Console.WriteLine($"(b) service end to end ({opts.Transport}, provider {(opts.Provider == "fake" ? "Mailgun fake" : "stub")} latency {opts.LatencyMs} ms, parallelism {opts.Parallelism}, rate limit {opts.Rate}/s, recovery of new emails {(opts.SkipRecovery ? "skipped" : "default")}{(opts.Cluster ? ", cluster of one" : "")}): " +
                  $"{e2e.Rate:0} emails/s ({opts.Emails} emails, all sent in {e2e.Elapsed.TotalSeconds:0.00} s)");
Console.WriteLine($"    accepted: {e2e.PostRate:0} POSTs/s; time to drain after the last POST: {e2e.Drain.TotalSeconds:0.00} s");
Console.WriteLine($"    API latency (POST, while loaded): p50 {e2e.P50:0.0} ms, p95 {e2e.P95:0.0} ms, p99 {e2e.P99:0.0} ms, max {e2e.Max:0.0} ms");
Console.WriteLine($"    peak memory (service + load generator process): working set {e2e.PeakWorkingSetMb} MB, GC heap {e2e.PeakHeapMb} MB");
Console.WriteLine($"    CPU per email: {e2e.CpuMsPerEmail:0.00} ms (this process: service, load generator{(opts.Provider == "fake" ? ", Mailgun fake" : "")}; not the broker); " +
                  $"JIT while measured: {e2e.JitMethods} methods, {e2e.JitMs:0} ms");
Console.WriteLine($"    allocated per email: {e2e.AllocatedKbPerEmail:0.0} KB (this process); GC while measured: {e2e.Gcs}; {e2e.Threads}");
Console.WriteLine($"    {e2e.ReadSideLag}");
if (e2e.Batch is { } batchLine) Console.WriteLine(batchLine);
if (raw is { } r) Console.WriteLine($"ratio end-to-end / raw: {e2e.Rate / r:P1} (target >= 15%, p99 < 50 ms)");

sealed record BenchOptions(int Emails, int Concurrency, string Transport, int LatencyMs, int Parallelism, int Rate,
    int RawMessages, bool SkipRecovery, int Prefetch, string Uri, string ExtraHocon, bool PostOnly, string Provider = "fake", int Warmup = 2000, string LogLevel = "Warning", int RawRounds = 4, bool Progress = false, int WarmupRounds = 6, int WarmupJitQuiet = 200, int RawRate = 0, int RawBurst = 1, string? Postgres = null, bool Cluster = false, int BatchRecipients = 0, bool Webhooks = false, double ProviderErrors = 0, bool Failover = false)
{
    public static BenchOptions Parse(string[] args)
    {
        string Get(string name, string dflt)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : dflt;
        }
        return new BenchOptions(
            int.Parse(Get("emails", "5000")), int.Parse(Get("concurrency", "32")), Get("transport", "rabbitmq").ToLowerInvariant(),
            int.Parse(Get("latency-ms", "0")), int.Parse(Get("parallelism", "32")), int.Parse(Get("rate", "100000")),
            int.Parse(Get("raw-messages", "20000")), Get("recovery", "none") == "none", int.Parse(Get("prefetch", "256")),
            Environment.GetEnvironmentVariable("RabbitMq__Uri") ?? Get("uri", "amqp://guest:guest@localhost:5672/"),
            Get("hocon", ""), args.Contains("--post-only"), Get("provider", "fake").ToLowerInvariant(),
            int.Parse(Get("warmup", "2000")), Get("log-level", "Warning"), Math.Max(1, int.Parse(Get("raw-rounds", "4"))), args.Contains("--progress"),
            int.Parse(Get("warmup-rounds", "6")), int.Parse(Get("warmup-jit-quiet", "200")), int.Parse(Get("raw-rate", "0")), Math.Max(1, int.Parse(Get("raw-burst", "1"))),
            Get("postgres", "") is { Length: > 0 } postgres ? postgres : null, args.Contains("--cluster"),
            int.Parse(Get("batch-recipients", "0")), args.Contains("--webhooks"),
            double.Parse(Get("provider-errors", "0"), System.Globalization.CultureInfo.InvariantCulture), args.Contains("--failover"));
    }
}

static class RawRabbit
{
    /// Publisher (confirms, 500 in flight) and consumer (prefetch 500, one ack per message) at once, like the service.
    /// <param name="rate">Messages per second to publish at (0: as fast as confirms allow); the broker's CPU per
    /// message depends on it (it batches less at lower rates), which `--raw-rate` lets one measure.</param>
    /// <param name="burst">With a rate: publish this many back to back, then wait (the same average rate, burstier).</param>
    public static async Task<double> RunAsync(string uri, int count, int rate = 0, int burst = 1)
    {
        var queue = "bench-raw-" + Guid.NewGuid().ToString("N")[..8];
        var factory = new ConnectionFactory { Uri = new Uri(uri), ClientProvidedName = "bench-raw" };
        await using var pubConn = await factory.CreateConnectionAsync();
        await using var subConn = await factory.CreateConnectionAsync();
        await using var pub = await pubConn.CreateChannelAsync(new CreateChannelOptions(true, true,
            new ThrottlingRateLimiter(1000)));
        await using var sub = await subConn.CreateChannelAsync();
        await pub.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        try
        {
            await sub.BasicQosAsync(0, 500, false);
            var received = 0;
            var done = new TaskCompletionSource();
            var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(sub);
            consumer.ReceivedAsync += async (_, ea) =>
            {
                await sub.BasicAckAsync(ea.DeliveryTag, false);
                if (Interlocked.Increment(ref received) == count) done.TrySetResult();
            };
            var body = new byte[1024];
            var props = new BasicProperties { DeliveryMode = DeliveryModes.Persistent };
            var sw = Stopwatch.StartNew();
            await sub.BasicConsumeAsync(queue, autoAck: false, consumer);
            var inFlight = new List<Task>(500);
            for (var i = 0; i < count; i++)
            {
                if (rate > 0 && i % burst == 0 && TimeSpan.FromSeconds((double)i / rate) - sw.Elapsed is { TotalMilliseconds: > 2 } ahead)
                    await Task.Delay(ahead);
                inFlight.Add(pub.BasicPublishAsync("", queue, false, props, body).AsTask());
                if (inFlight.Count == 500)
                {
                    await Task.WhenAll(inFlight);
                    inFlight.Clear();
                }
            }
            await Task.WhenAll(inFlight);
            await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
            return count / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            await pub.QueueDeleteAsync(queue);
        }
    }
}

sealed class CountingProvider(TimeSpan latency) : IEmailProvider
{
    public string Name => "bench-stub";
    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        if (latency > TimeSpan.Zero) await Task.Delay(latency, ct);
        return new SendOutcome.Sent("bench-" + email.EmailId);
    }
}

sealed class SentEmails
{
    public readonly ConcurrentDictionary<string, byte> Ids = new();
    public int Count;
}

/// Counts emails whose persisted status became `sent` (the EmailActor publishes every persisted change).
sealed class SentCounter : ReceiveActor
{
    public SentCounter(SentEmails sent)
    {
        Receive<PipelineMessages.EmailChanged>(c =>
        {
            if (c.Status == "sent" && sent.Ids.TryAdd(c.EmailId, 0)) Interlocked.Increment(ref sent.Count);
        });
    }
}

sealed record E2EResult(double Rate, TimeSpan Elapsed, double PostRate, double P50, double P95, double P99, double Max,
    long PeakWorkingSetMb, long PeakHeapMb, TimeSpan Drain = default, double CpuMsPerEmail = 0, long JitMethods = 0, double JitMs = 0, double AllocatedKbPerEmail = 0, string Gcs = "", string Threads = "", string ReadSideLag = "", string? Batch = null);

static class EndToEnd
{
    public static async Task<E2EResult> RunAsync(BenchOptions o, RuntimeDiagnostics? diagnostics = null)
    {
        var prefix = "bench-" + Guid.NewGuid().ToString("N")[..8];
        var dataPath = Path.Combine(Path.GetTempPath(), "akkamail-" + prefix);
        var hocon = $$"""
            akkamail {
              rabbitmq { work-queue = "{{prefix}}.send", delay-queue-prefix = "{{prefix}}.delay.", dead-letter-queue = "{{prefix}}.dead",
                         prefetch = {{o.Prefetch}}, delay-buckets = [1s, 1m] }
              sender { parallelism = {{o.Parallelism}}, rate-limit { per-second = {{o.Rate}}, burst = {{o.Rate}} } }
              email.skip-recovery-of-new-emails = {{(o.SkipRecovery ? "on" : "off")}}
            }
            {{o.ExtraHocon}}
            """;
        var args = new[]
        {
            "--urls", "http://127.0.0.1:0", $"--AkkaMail:DataPath={dataPath}", $"--AkkaMail:LogLevel={o.LogLevel}",
            "--environment", "Production", $"--AkkaMail:Transport={o.Transport}", $"--RabbitMq:Uri={o.Uri}",
            "--AkkaMail:RateLimit:PerSecond=1000000", "--AkkaMail:RateLimit:Burst=1000000",
            $"--AkkaMail:HoconOverrides={hocon}",
            // A cluster of one: the email actors as entities of a sharding region instead of the manager's children.
            $"--AkkaMail:Cluster:Enabled={o.Cluster}",
            // --webhooks: an outbound webhook endpoint on loopback receives every change while the run sends.
            $"--AkkaMail:OutboundWebhooks:AllowLoopback={(o.Webhooks ? "on" : "off")}",
            "--AkkaMail:OutboundWebhooks:RateLimit:PerSecond=100000", "--AkkaMail:OutboundWebhooks:RateLimit:Burst=100000",
            "--AkkaMail:OutboundWebhooks:Parallelism=16",
        };
        // The store: SQLite files in the data folder, or a PostgreSQL database of this run's own.
        var database = o.Postgres is null ? null : "akkamail_" + prefix.Replace('-', '_');
        if (database is not null)
        {
            await using (var admin = new Npgsql.NpgsqlConnection(o.Postgres))
            {
                await admin.OpenAsync();
                await new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{database}\"", admin).ExecuteNonQueryAsync();
            }
            args = args.Concat(new[] { "--AkkaMail:Store=postgres",
                $"--ConnectionStrings:Postgres={new Npgsql.NpgsqlConnectionStringBuilder(o.Postgres) { Database = database }}" }).ToArray();
        }
        // The provider: the Mailgun fake on loopback (real HTTP, Mailgun's checks, the given latency), or an in-process stub.
        await using var fake = o.Provider == "fake"
            ? await AkkaMail.MailgunFake.MailgunFakeServer.StartAsync(new AkkaMail.MailgunFake.MailgunFakeOptions
            {
                Domain = "mg.bench.test", ApiKey = "key-bench", Latency = TimeSpan.FromMilliseconds(o.LatencyMs),
                RecordMessages = false, WebhookEvents = [],
                // --provider-errors F: this share of Mailgun's answers are 429/500/503 (retried with backoff).
                FailureRate = o.ProviderErrors,
            })
            : null;
        if (fake is not null)
            args = args.Concat(new[] { "--AkkaMail:Provider=mailgun", $"--Mailgun:BaseUrl={fake.BaseUrl}",
                $"--Mailgun:Domain={fake.Domain}", $"--Mailgun:ApiKey={fake.ApiKey}" }).ToArray();
        // --failover: the route mailgun → smtp, SMTP being the test SMTP server on loopback (with --provider-errors 0.3,
        // the failover row: Mailgun's breaker opens on runs of failures and SMTP carries the mail meanwhile).
        await using var smtp = o.Failover && fake is not null ? new AkkaMail.SmtpFake.FakeSmtpServer() : null;
        if (smtp is not null)
            args = args.Concat(new[] { "--AkkaMail:Route:0=mailgun", "--AkkaMail:Route:1=smtp", $"--Smtp:Host={smtp.Host}",
                $"--Smtp:Port={smtp.Port}", "--Smtp:TlsMode=none", $"--Smtp:MaxIdleConnections={o.Parallelism}" }).ToArray();
        var provider = new CountingProvider(TimeSpan.FromMilliseconds(o.LatencyMs));
        var app = await AkkaMailApp.BuildAsync(args, b =>
        {
            if (fake is null) b.Services.AddSingleton<IEmailProvider>(provider);
        });
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var adminKey = (await File.ReadAllTextAsync(Path.Combine(dataPath, "admin.key"))).Trim();
            var system = app.Services.GetRequiredService<ActorSystem>();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = o.Concurrency })
                { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
            var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
            var body = new { from = "Bench <bench@example.com>", to = new[] { "someone@example.com" }, subject = "Benchmark", text = new string('x', 700) };

            // --webhooks: a receiver on loopback (answers 200 to every POST) subscribed to every change of every email.
            long webhookDeliveries = 0;
            WebApplication? receiver = null;
            if (o.Webhooks)
            {
                var rb = WebApplication.CreateSlimBuilder();
                Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(rb.WebHost, "http://127.0.0.1:0");
                receiver = rb.Build();
                receiver.MapPost("/hook", () => { Interlocked.Increment(ref webhookDeliveries); return Microsoft.AspNetCore.Http.Results.Ok(); });
                await receiver.StartAsync();
                var hookUrl = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
                using var created = await http.PostAsJsonAsync("/api/webhooks/endpoints", new { url = hookUrl });
                if ((int)created.StatusCode != 201) throw new InvalidOperationException($"webhook endpoint: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");
            }

            var sent = new SentEmails();
            var counter = system.ActorOf(Props.Create(() => new SentCounter(sent)));
            system.EventStream.Subscribe(counter, typeof(PipelineMessages.EmailChanged));
            await Task.Delay(200);

            // Warm-up, not counted: connections, SQLite, and above all the JIT. Tiered compilation starts counting
            // calls only after 100 ms without new tier-0 compilation, which a busy first load rarely has; measured
            // on this machine, the first 4,000 emails after a warm-up of 4,000 still compiled ~2,900 methods at
            // tier 1 (~2 s of the run's ~7 s CPU). So the warm-up goes on in rounds of --warmup emails until a
            // round compiles fewer than --warmup-jit-quiet methods (at most --warmup-rounds rounds): the measured
            // run is then the steady state. `--warmup-rounds 1` gives the old single round.
            for (var round = 1; ; round++)
            {
                var jitBeforeRound = JitNow();
                var warmupIds = await PostAll(http, json, body, o.Warmup, o.Concurrency, null);
                var warmupDeadline = Stopwatch.StartNew();
                while (!o.PostOnly && warmupIds.Any(id => !sent.Ids.ContainsKey(id)) && warmupDeadline.Elapsed < TimeSpan.FromMinutes(5))
                    await Task.Delay(50);
                await Task.Delay(500);
                var (jitted, jitTime) = JitNow() - jitBeforeRound;
                Console.WriteLine($"    warm-up round {round}: {o.Warmup} emails; the JIT compiled {jitted} methods in {jitTime.TotalMilliseconds:0} ms");
                if (jitted < o.WarmupJitQuiet || round >= o.WarmupRounds) break;
            }
            await Task.Delay(500);

            long peakWs = 0, peakHeap = 0;
            // The read side's lag behind the journal while loaded, sampled every 100 ms (events; age of the oldest event
            // not yet projected).
            var readSide = app.Services.GetRequiredService<AkkaMail.Projections.ProjectionProgress>();
            var journalHead = app.Services.GetRequiredService<AkkaMail.Projections.JournalHead>();
            var lagSamples = new List<(long Events, double Seconds)>();
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                var tick = 0;
                var (lastSent, lastCpu, lastGcPause) = (Volatile.Read(ref sent.Count), Process.GetCurrentProcess().TotalProcessorTime, GC.GetTotalPauseDuration());
                var lastJit = JitNow();
                while (!sampling.IsCancellationRequested)
                {
                    using var p = Process.GetCurrentProcess();
                    peakWs = Math.Max(peakWs, p.WorkingSet64);
                    peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                    lagSamples.Add(await journalHead.LagAsync(readSide, DateTimeOffset.UtcNow));
                    if (o.Progress && ++tick % 10 == 0)
                    {
                        // Per second: emails that became sent, CPU of this process, time the GC paused the process,
                        // methods the JIT compiled (tiering up) and the time it spent.
                        var (s, c, g) = (Volatile.Read(ref sent.Count), p.TotalProcessorTime, GC.GetTotalPauseDuration());
                        var j = JitNow();
                        var (jitted, jitTime) = j - lastJit;
                        Console.WriteLine($"    t={tick / 10,3} s: {s - lastSent,5} sent, CPU {(c - lastCpu).TotalMilliseconds,5:0} ms, GC pauses {(g - lastGcPause).TotalMilliseconds,4:0} ms, " +
                                          $"JIT {jitted,4} methods {jitTime.TotalMilliseconds,4:0} ms, heap {GC.GetTotalMemory(false) / 1048576} MB");
                        (lastSent, lastCpu, lastGcPause, lastJit) = (s, c, g, j);
                    }
                    try { await Task.Delay(100, sampling.Token); } catch (OperationCanceledException) { }
                }
            });

            diagnostics?.Start();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var sentBefore = Volatile.Read(ref sent.Count);
            var webhooksBefore = Interlocked.Read(ref webhookDeliveries);
            var allocatedBefore = GC.GetTotalAllocatedBytes();
            var workItemsBefore = ThreadPool.CompletedWorkItemCount;
            var gcBefore = (Gen0: GC.CollectionCount(0), Gen1: GC.CollectionCount(1), Gen2: GC.CollectionCount(2), Pause: GC.GetTotalPauseDuration());
            var jitBefore = JitNow();
            var latencies = new double[o.Emails];
            var sw = Stopwatch.StartNew();
            var ids = await PostAll(http, json, body, o.Emails, o.Concurrency, latencies);
            var postElapsed = sw.Elapsed;
            // Waits on the count of sent emails (the warm-up's are all in it already; checked below that this run's
            // are the ones counted) rather than scanning this run's ids every few ms: the load generator shares the
            // cores with the service.
            var mine = new HashSet<string>(o.PostOnly ? [] : ids);
            var target = sentBefore + mine.Count;
            while (Volatile.Read(ref sent.Count) < target)
            {
                if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"{mine.Count(sent.Ids.ContainsKey)}/{mine.Count} sent after 5 min");
                await Task.Delay(5);
            }
            if (mine.Any(id => !sent.Ids.ContainsKey(id))) throw new InvalidOperationException("an email counted as sent is not one of this run's");
            var elapsed = sw.Elapsed;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var allocatedKb = (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / o.Emails;
            var threads = $"thread pool: {ThreadPool.ThreadCount} threads, {(ThreadPool.CompletedWorkItemCount - workItemsBefore) / (double)o.Emails:0.0} work items per email";
            var gcs = $"{GC.CollectionCount(0) - gcBefore.Gen0} GCs ({GC.CollectionCount(1) - gcBefore.Gen1} gen1, {GC.CollectionCount(2) - gcBefore.Gen2} gen2), " +
                      $"paused {(GC.GetTotalPauseDuration() - gcBefore.Pause).TotalMilliseconds / elapsed.TotalMilliseconds:P1} of the time";
            var jit = JitNow() - jitBefore;
            sampling.Cancel();
            await sampler;

            // Cross-check over HTTP: a sample of them reads `sent`.
            foreach (var id in ids.Where((_, i) => !o.PostOnly && i % Math.Max(1, ids.Count / 20) == 0))
            {
                var status = JsonNode.Parse(await http.GetStringAsync($"/api/emails/{id}"))!["status"]!.GetValue<string>();
                if (status != "sent") throw new InvalidOperationException($"email {id} is {status}");
            }

            var lagSeconds = lagSamples.Select(l => l.Seconds).Order().ToArray();
            var lagEvents = lagSamples.Select(l => (double)l.Events).Order().ToArray();
            static double P(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
            var readSideLag = $"read-side lag while loaded ({lagSamples.Count} samples): p50 {P(lagSeconds, 0.5) * 1000:0} ms / p99 {P(lagSeconds, 0.99) * 1000:0} ms, " +
                              $"{P(lagEvents, 0.5):0} / {P(lagEvents, 0.99):0} events behind";

            string? webhookLine = null;
            if (receiver is not null)
            {
                // Deliveries that arrived while (b) ran, then the wait until the receiver hears nothing new for 2 s.
                var duringRun = Interlocked.Read(ref webhookDeliveries) - webhooksBefore;
                var settle = Stopwatch.StartNew();
                var (last, quietSince) = (Interlocked.Read(ref webhookDeliveries), Stopwatch.StartNew());
                while (quietSince.Elapsed < TimeSpan.FromSeconds(2) && settle.Elapsed < TimeSpan.FromMinutes(5))
                {
                    await Task.Delay(100);
                    var now = Interlocked.Read(ref webhookDeliveries);
                    if (now != last) (last, quietSince) = (now, Stopwatch.StartNew());
                }
                var total = last - webhooksBefore;
                webhookLine = $"(d) outbound webhooks to a loopback receiver: {duringRun / elapsed.TotalSeconds:0} deliveries/s while the run sent " +
                              $"({duringRun} during the run; {total} in all for its {o.Emails} emails, the last {Math.Max(0, (settle.Elapsed - TimeSpan.FromSeconds(2)).TotalSeconds):0.0} s after the last email was sent)";
                await receiver.StopAsync();
                await receiver.DisposeAsync();
            }

            // --batch-recipients N: the same recipients' worth of mail as personalised batches (POST /api/emails/batch,
            // 1,000 recipients each: one email, one provider call with recipient-variables), after the one-email-per-
            // recipient run above, in the same process: recipients per second side by side.
            string? batchLine = null;
            if (o.BatchRecipients >= 1000 && !o.PostOnly)
            {
                var batchBody = new
                {
                    from = "Bench <bench@example.com>", subject = "Benchmark for %recipient.name%", text = new string('x', 700) + " %recipient.name%",
                    recipients = Enumerable.Range(0, 1000).Select(i => new { to = $"r{i}@example.com", variables = new { name = $"R{i}" } }).ToArray(),
                };
                var batchPayload = JsonSerializer.SerializeToUtf8Bytes(batchBody, json);
                var batches = o.BatchRecipients / 1000;
                var batchSentBefore = Volatile.Read(ref sent.Count);
                var batchCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var batchClock = Stopwatch.StartNew();
                var batchIds = new ConcurrentBag<string>();
                var nextBatch = -1;
                await Task.WhenAll(Enumerable.Range(0, Math.Min(4, batches)).Select(async _ =>
                {
                    while (Interlocked.Increment(ref nextBatch) < batches)
                    {
                        using var content = new ByteArrayContent(batchPayload);
                        content.Headers.ContentType = JsonContentType;
                        using var r = await http.PostAsync("/api/emails/batch", content);
                        var bytes = await r.Content.ReadAsByteArrayAsync();
                        if ((int)r.StatusCode != 202) throw new InvalidOperationException($"POST batch: {(int)r.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
                        using var doc = JsonDocument.Parse(bytes);
                        foreach (var e in doc.RootElement.GetProperty("emails").EnumerateArray()) batchIds.Add(e.GetProperty("id").GetString()!);
                    }
                }));
                while (Volatile.Read(ref sent.Count) < batchSentBefore + batchIds.Count)
                {
                    if (batchClock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("batches not sent after 5 min");
                    await Task.Delay(5);
                }
                var batchElapsed = batchClock.Elapsed;
                var batchCpu = Process.GetCurrentProcess().TotalProcessorTime - batchCpuBefore;
                var recipients = batches * 1000;
                batchLine = $"(c) personalised batches: {recipients / batchElapsed.TotalSeconds:0} recipients/s ({batches} batches of 1,000 recipients, " +
                            $"all sent in {batchElapsed.TotalSeconds:0.00} s; CPU per recipient {batchCpu.TotalMilliseconds / recipients:0.000} ms) " +
                            $"vs one email per recipient (b): {o.Emails / elapsed.TotalSeconds:0} recipients/s (CPU per recipient {cpu.TotalMilliseconds / o.Emails:0.000} ms)";
            }

            Array.Sort(latencies);
            double Pct(double p) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
            return new E2EResult(o.Emails / elapsed.TotalSeconds, elapsed, o.Emails / postElapsed.TotalSeconds,
                Pct(0.50), Pct(0.95), Pct(0.99), latencies[^1], peakWs / 1048576, peakHeap / 1048576, elapsed - postElapsed,
                cpu.TotalMilliseconds / o.Emails, jit.Methods, jit.Time.TotalMilliseconds, allocatedKb, gcs, threads, readSideLag,
                string.Join(Environment.NewLine, new[] { webhookLine, batchLine }.OfType<string>()) is { Length: > 0 } extra ? extra : null);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataPath, true); } catch (IOException) { }
            if (o.Transport == "rabbitmq") await DeleteQueues(o.Uri, prefix);
            if (database is not null)
            {
                await using var admin = new Npgsql.NpgsqlConnection(o.Postgres);
                await admin.OpenAsync();
                await new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", admin).ExecuteNonQueryAsync();
            }
        }
    }

    /// <summary>What the JIT has compiled in this process so far: methods, and the time it took.</summary>
    private static JitWork JitNow() => new(System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime());

    private readonly record struct JitWork(long Methods, TimeSpan Time)
    {
        public static JitWork operator -(JitWork a, JitWork b) => new(a.Methods - b.Methods, a.Time - b.Time);
    }

    private static async Task<List<string>> PostAll(HttpClient http, JsonSerializerOptions json, object body, int count,
        int concurrency, double[]? latencies)
    {
        // The load generator shares the 2 cores with the service: serialise the body once, like wrk would.
        var payload = JsonSerializer.SerializeToUtf8Bytes(body, json);
        var ids = new string[count];
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var t = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(payload);
                content.Headers.ContentType = JsonContentType;
                using var r = await http.PostAsync("/api/emails", content);
                var bytes = await r.Content.ReadAsByteArrayAsync();
                if (latencies is not null) latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                if ((int)r.StatusCode != 202) throw new InvalidOperationException($"POST: {(int)r.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
                using var doc = JsonDocument.Parse(bytes);
                ids[i] = doc.RootElement.GetProperty("id").GetString()!;
            }
        });
        await Task.WhenAll(workers);
        return ids.ToList();
    }

    private static readonly MediaTypeHeaderValue JsonContentType = new("application/json") { CharSet = "utf-8" };

    internal static async Task DeleteQueues(string uri, string prefix)
    {
        try
        {
            await using var conn = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
            await using var ch = await conn.CreateChannelAsync();
            foreach (var q in new[] { ".send", ".dead", ".delay.1s", ".delay.1m" })
                await ch.QueueDeleteAsync(prefix + q);
        }
        catch (Exception e) { Console.WriteLine("queue cleanup: " + e.Message); }
    }
}

/// `--diagnose`: what the runtime JIT-compiles and allocates while loaded (after the warm-up), from its own events:
/// methods compiled by namespace, and allocation samples (one per ~100 KB) by type.
sealed class RuntimeDiagnostics : System.Diagnostics.Tracing.EventListener
{
    private readonly ConcurrentDictionary<string, int> _jitted = new();
    private readonly ConcurrentDictionary<string, long> _allocated = new();
    private volatile bool _on;
    public void Start() => _on = true;

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)(0x1 | 0x10));
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (!_on || e.Payload is null) return;
        if (e.EventName == "MethodJittingStarted_V1")
        {
            var ns = e.Payload[e.PayloadNames!.IndexOf("MethodNamespace")]?.ToString() ?? "?";
            var name = e.Payload[e.PayloadNames!.IndexOf("MethodName")]?.ToString() ?? "?";
            _jitted.AddOrUpdate(ns + "::" + name, 1, (_, n) => n + 1);
        }
        else if (e.EventName is "GCAllocationTick_V4" or "GCAllocationTick_V3" or "GCAllocationTick_V2")
        {
            var type = e.Payload[e.PayloadNames!.IndexOf("TypeName")]?.ToString() ?? "?";
            var amount = Convert.ToInt64(e.Payload[e.PayloadNames!.IndexOf("AllocationAmount")]);
            _allocated.AddOrUpdate(type, amount, (_, n) => n + amount);
        }
    }

    public void Print()
    {
        Console.WriteLine($"JIT while loaded: {_jitted.Values.Sum()} methods; top 40:");
        foreach (var (k, v) in _jitted.OrderByDescending(p => p.Value).Take(40)) Console.WriteLine($"  {v,6}  {k}");
        Console.WriteLine($"allocation samples while loaded: {_allocated.Values.Sum() / 1048576} MB; top 40 types:");
        foreach (var (k, v) in _allocated.OrderByDescending(p => p.Value).Take(40)) Console.WriteLine($"  {v / 1048576.0,8:0.0} MB  {k}");
    }
}


/// <summary>The service's clock, running with real time plus a jump the soak adds: retention's days pass in seconds.</summary>
sealed class JumpingClock : TimeProvider
{
    private long _offsetTicks;
    public void Jump(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}

static class Soak
{
    public static async Task RunAsync(bool withRetention, int rate, int steps, int stepSeconds)
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "akkamail-soak-" + Guid.NewGuid().ToString("N")[..8]);
        var clock = new JumpingClock();
        var retention = withRetention ? "bodies = 1d, envelopes = 3d" : "bodies = 0, envelopes = 0";
        var app = await AkkaMailApp.BuildAsync(new[]
        {
            "--urls", "http://127.0.0.1:0", $"--AkkaMail:DataPath={dataPath}", "--AkkaMail:LogLevel=Warning", "--environment", "Production",
            "--AkkaMail:Transport=inproc", "--AkkaMail:RateLimit:PerSecond=1000000", "--AkkaMail:RateLimit:Burst=1000000",
            // The sweep would take the clock's jumps for lost jobs; the job runs when the soak says.
            $"--AkkaMail:HoconOverrides=akkamail.retention {{ {retention}, interval = 1000h }}\nakkamail.sweep.interval = 1000h",
        }, b => b.Services.AddSingleton<TimeProvider>(clock));
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var adminKey = (await File.ReadAllTextAsync(Path.Combine(dataPath, "admin.key"))).Trim();
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
            var job = app.Services.GetRequiredService<Akka.Hosting.ActorRegistry>().Get<RetentionActor>();
            var body = string.Concat(Enumerable.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 180)); // ~10 KB
            long posted = 0, failed = 0;
            using var stop = new CancellationTokenSource();
            var load = Task.Run(async () =>
            {
                var started = Stopwatch.StartNew();
                while (!stop.IsCancellationRequested)
                {
                    // Paced: the n-th POST goes at n / rate seconds.
                    var due = TimeSpan.FromSeconds((double)posted / rate) - started.Elapsed;
                    if (due > TimeSpan.Zero) await Task.Delay(due);
                    try
                    {
                        using var r = await http.PostAsJsonAsync("/api/emails", new
                        {
                            from = "Soak <soak@example.com>", to = new[] { $"reader{posted % 1000}@example.com" }, subject = $"Soak {posted}", text = body,
                        });
                        if (!r.IsSuccessStatusCode) failed++;
                    }
                    catch (HttpRequestException) { failed++; }
                    posted++;
                }
            });
            Console.WriteLine($"-- {(withRetention ? "with retention (bodies 1d, envelopes 3d)" : "without retention")}");
            Console.WriteLine("   simulated  emails   events.db   akkamail.db   outbox     total       job (checked / bodies / emails removed)");
            for (var step = 1; step <= steps; step++)
            {
                await Task.Delay(TimeSpan.FromSeconds(stepSeconds));
                clock.Jump(TimeSpan.FromHours(12));
                var run = withRetention ? await job.Ask<RetentionRun>(RetentionActor.RunNow.Instance, TimeSpan.FromSeconds(60)) : null;
                long Bytes(string pattern, string? dir = null) =>
                    Directory.Exists(dir ?? dataPath) ? Directory.EnumerateFiles(dir ?? dataPath, pattern).Sum(f => new FileInfo(f).Length) : 0;
                var events = Bytes("events.db*");
                var readModel = Bytes("akkamail.db*");
                var outbox = Bytes("*.eml", Path.Combine(dataPath, "outbox"));
                Console.WriteLine($"   day {step * 0.5,4:0.0}  {posted,7}  {events / 1e6,8:0.00} MB {readModel / 1e6,9:0.00} MB {outbox / 1e6,8:0.00} MB {(events + readModel + outbox) / 1e6,8:0.00} MB" +
                                  (run is null ? "" : $"   {run.Checked} / {run.BodiesRemoved} / {run.EmailsRemoved}{(run.Error is null ? "" : " error: " + run.Error)}"));
            }
            stop.Cancel();
            await load;
            if (failed > 0) Console.WriteLine($"   ({failed} POSTs failed)");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { }
        }
    }
}

using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AkkaMail.MailgunFake;
using AkkaMail.Yardstick;

/// <summary>
/// <c>--yardstick</c>: issue 24's plain .NET service (<see cref="PlainMailService"/>) under the same harness as (b):
/// hosted in this process beside the load generator and the Mailgun fake, the same RabbitMQ, the same body, the same
/// POST concurrency and warm-up; an email counts once the fake accepted it. Run it and (b) alternately, each in a
/// process of its own (bench/yardstick.sh), so that each one's peak working set is its own.
/// </summary>
static class YardstickBench
{
    public static async Task RunAsync(BenchOptions o)
    {
        var prefix = "yardstick-" + Guid.NewGuid().ToString("N")[..8];
        var dataPath = Path.Combine(Path.GetTempPath(), prefix);
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.bench.test", ApiKey = "key-bench", Latency = TimeSpan.FromMilliseconds(o.LatencyMs),
            RecordMessages = false, WebhookEvents = [],
        });
        var service = await PlainMailService.StartAsync(new PlainMailOptions(o.Uri, prefix + ".send", Path.Combine(dataPath, "mail.db"),
            fake.BaseUrl, fake.Domain, fake.ApiKey, o.Parallelism, (ushort)Math.Min(o.Prefetch, ushort.MaxValue)));
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = o.Concurrency }) { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            var payload = JsonSerializer.SerializeToUtf8Bytes(new { from = "Bench <bench@example.com>", to = new[] { "someone@example.com" }, subject = "Benchmark", text = new string('x', 700) },
                new JsonSerializerOptions(JsonSerializerDefaults.Web));
            for (var round = 1; round <= Math.Max(1, o.WarmupRounds); round++)
            {
                var target = service.Sent + o.Warmup;
                await PostAsync(http, payload, o.Warmup, o.Concurrency, null);
                await WaitAsync(() => service.Sent >= target);
            }
            await Task.Delay(500);

            long peakWs = 0;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    using var p = Process.GetCurrentProcess();
                    peakWs = Math.Max(peakWs, p.WorkingSet64);
                    try { await Task.Delay(100, sampling.Token); } catch (OperationCanceledException) { }
                }
            });
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var allocatedBefore = GC.GetTotalAllocatedBytes();
            var sentBefore = service.Sent;
            var latencies = new double[o.Emails];
            var clock = Stopwatch.StartNew();
            await PostAsync(http, payload, o.Emails, o.Concurrency, latencies);
            var posted = clock.Elapsed;
            await WaitAsync(() => service.Sent >= sentBefore + o.Emails);
            var elapsed = clock.Elapsed;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var allocatedKb = (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / o.Emails;
            sampling.Cancel();
            await sampler;
            Array.Sort(latencies);
            double Pct(double q) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)];
            Console.WriteLine($"(y) plain .NET yardstick (minimal API, RabbitMQ.Client confirms, consumer, SQLite WAL; {o.Transport}, provider Mailgun fake latency {o.LatencyMs} ms, parallelism {o.Parallelism}): " +
                              $"{o.Emails / elapsed.TotalSeconds:0} emails/s ({o.Emails} emails, all sent in {elapsed.TotalSeconds:0.00} s)");
            Console.WriteLine($"    accepted: {o.Emails / posted.TotalSeconds:0} POSTs/s; time to drain after the last POST: {(elapsed - posted).TotalSeconds:0.00} s");
            Console.WriteLine($"    API latency (POST, while loaded): p50 {Pct(0.5):0.0} ms, p95 {Pct(0.95):0.0} ms, p99 {Pct(0.99):0.0} ms, max {latencies[^1]:0.0} ms");
            Console.WriteLine($"    peak memory (service + load generator process): working set {peakWs / 1048576} MB");
            Console.WriteLine($"    CPU per email: {cpu.TotalMilliseconds / o.Emails:0.00} ms (this process: service, load generator, Mailgun fake; not the broker); allocated per email: {allocatedKb:0.0} KB");
        }
        finally
        {
            await service.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataPath, true); } catch (IOException) { }
        }
    }

    private static async Task WaitAsync(Func<bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("not all sent after 5 min");
            await Task.Delay(5);
        }
    }

    private static async Task PostAsync(HttpClient http, byte[] payload, int count, int concurrency, double[]? latencies)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var started = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(payload);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var r = await http.PostAsync("/api/emails", content);
                if ((int)r.StatusCode != 202) throw new InvalidOperationException($"POST: {(int)r.StatusCode} {Encoding.UTF8.GetString(await r.Content.ReadAsByteArrayAsync())}");
                if (latencies is not null) latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }));
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AkkaMail.MailgunFake;

/// <summary>
/// <c>--nodes N</c>: AkkaMail as N service processes (cluster mode, each its own HTTP and Akka port on 127.0.0.1) on one
/// PostgreSQL database and one RabbitMQ queue, the Mailgun fake on loopback in this process. The load generator POSTs
/// round-robin over the nodes; an email counts once the fake has received it. CPU per email is the services' own
/// (the sum over the node processes, read from the OS), so one node and three compare on what a node costs per email;
/// on a 2-core machine three nodes share the same two cores, so the figure is about cost, not about scaling.
/// </summary>
static class ClusterBench
{
    public static async Task RunAsync(BenchOptions o, int nodes)
    {
        if (o.Postgres is null) throw new ArgumentException("--nodes needs --postgres (the nodes share one store)");
        if (o.Transport != "rabbitmq") throw new ArgumentException("--nodes needs --transport rabbitmq (the nodes share one queue)");
        var prefix = "bench-" + Guid.NewGuid().ToString("N")[..8];
        var database = "akkamail_" + prefix.Replace('-', '_');
        await using (var admin = new Npgsql.NpgsqlConnection(o.Postgres))
        {
            await admin.OpenAsync();
            await new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{database}\"", admin).ExecuteNonQueryAsync();
        }
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
        {
            Domain = "mg.bench.test", ApiKey = "key-bench", Latency = TimeSpan.FromMilliseconds(o.LatencyMs),
            RecordMessages = false, WebhookEvents = [],
        });
        var hocon = $$"""
            akkamail {
              rabbitmq { work-queue = "{{prefix}}.send", delay-queue-prefix = "{{prefix}}.delay.", dead-letter-queue = "{{prefix}}.dead",
                         prefetch = {{o.Prefetch}}, delay-buckets = [1s, 1m] }
              sender { parallelism = {{o.Parallelism}}, rate-limit { per-second = {{o.Rate}}, burst = {{o.Rate}} } }
            }
            {{o.ExtraHocon}}
            """;
        var secretsKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var akkaPorts = Enumerable.Range(0, nodes).Select(_ => FreePort()).ToArray();
        var httpPorts = Enumerable.Range(0, nodes).Select(_ => FreePort()).ToArray();
        var dataPaths = Enumerable.Range(0, nodes).Select(i => Path.Combine(Path.GetTempPath(), $"akkamail-{prefix}-n{i + 1}")).ToArray();
        var processes = new List<Process>();
        try
        {
            for (var i = 0; i < nodes; i++)
            {
                Directory.CreateDirectory(dataPaths[i]);
                var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[]
                {
                    Path.Combine(AppContext.BaseDirectory, "AkkaMail.Api.dll"), "--urls", $"http://127.0.0.1:{httpPorts[i]}",
                    $"--AkkaMail:DataPath={dataPaths[i]}", $"--AkkaMail:LogLevel={o.LogLevel}", "--environment", "Production",
                    "--AkkaMail:Transport=rabbitmq", $"--RabbitMq:Uri={o.Uri}", "--AkkaMail:Store=postgres",
                    $"--ConnectionStrings:Postgres={new Npgsql.NpgsqlConnectionStringBuilder(o.Postgres) { Database = database }}",
                    "--AkkaMail:RateLimit:PerSecond=1000000", "--AkkaMail:RateLimit:Burst=1000000", $"--AkkaMail:HoconOverrides={hocon}",
                    "--AkkaMail:Provider=mailgun", $"--Mailgun:BaseUrl={fake.BaseUrl}", $"--Mailgun:Domain={fake.Domain}", $"--Mailgun:ApiKey={fake.ApiKey}",
                    "--AkkaMail:Cluster:Enabled=true", $"--AkkaMail:Cluster:Port={akkaPorts[i]}", $"--OutboundWebhooks:SecretsKey={secretsKey}", "--AkkaMail:Cluster:FormAfter=00:00:05",
                })
                    psi.ArgumentList.Add(a);
                for (var s = 0; s < nodes; s++) psi.ArgumentList.Add($"--AkkaMail:Cluster:SeedNodes:{s}=akka.tcp://akkamail@127.0.0.1:{akkaPorts[s]}");
                var p = Process.Start(psi)!;
                var tag = $"node {i + 1}";
                // Errors only, but not the readiness probe's "not yet joined" while the node starts.
                p.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is { } line && (line.Contains(" ERR] ") || line.Contains(" FTL] ")) && !line.Contains("/health/ready") && !line.Contains("HealthCheck"))
                        Console.WriteLine($"    [{tag}] {line}");
                };
                p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.WriteLine($"    [{tag}] {line}"); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                processes.Add(p);
                // The first node creates the admin user in the shared store; the others find it there.
                if (i == 0) await WaitReadyAsync(httpPorts[0], p);
            }
            for (var i = 1; i < nodes; i++) await WaitReadyAsync(httpPorts[i], processes[i]);
            var adminKey = (await File.ReadAllTextAsync(Path.Combine(dataPaths[0], "admin.key"))).Trim();
            var clients = httpPorts.Select(port =>
            {
                var c = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = o.Concurrency })
                    { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
                c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
                return c;
            }).ToArray();
            var payload = JsonSerializer.SerializeToUtf8Bytes(new { from = "Bench <bench@example.com>", to = new[] { "someone@example.com" }, subject = "Benchmark", text = new string('x', 700) },
                new JsonSerializerOptions(JsonSerializerDefaults.Web));

            for (var round = 1; round <= Math.Max(1, o.WarmupRounds); round++)
            {
                var before = fake.AcceptedCount;
                await PostAsync(clients, payload, o.Warmup, o.Concurrency, null);
                await WaitSentAsync(fake, before + o.Warmup);
                Console.WriteLine($"    warm-up round {round}: {o.Warmup} emails over {nodes} node(s)");
            }
            await Task.Delay(1000);

            var cpuBefore = processes.Select(p => { p.Refresh(); return p.TotalProcessorTime; }).ToArray();
            var sentBefore = fake.AcceptedCount;
            var latencies = new double[o.Emails];
            var clock = Stopwatch.StartNew();
            long peakRss = 0;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peakRss = Math.Max(peakRss, processes.Max(p => { p.Refresh(); return p.WorkingSet64; }));
                    try { await Task.Delay(200, sampling.Token); } catch (OperationCanceledException) { }
                }
            });
            await PostAsync(clients, payload, o.Emails, o.Concurrency, latencies);
            var posted = clock.Elapsed;
            await WaitSentAsync(fake, sentBefore + o.Emails);
            var elapsed = clock.Elapsed;
            sampling.Cancel();
            await sampler;
            var cpu = processes.Select((p, i) => { p.Refresh(); return p.TotalProcessorTime - cpuBefore[i]; }).ToArray();
            Array.Sort(latencies);
            double Pct(double q) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)];
            var totalCpu = cpu.Aggregate(TimeSpan.Zero, (a, b) => a + b);
            Console.WriteLine($"(e) {nodes} node(s) in cluster mode on PostgreSQL, RabbitMQ, Mailgun fake latency {o.LatencyMs} ms, all on this machine's {Environment.ProcessorCount} cores: " +
                              $"{o.Emails / elapsed.TotalSeconds:0} emails/s ({o.Emails} emails round-robin over the nodes, all sent in {elapsed.TotalSeconds:0.00} s; accepted {o.Emails / posted.TotalSeconds:0} POSTs/s)");
            Console.WriteLine($"    CPU per email, the service processes only: {totalCpu.TotalMilliseconds / o.Emails:0.00} ms " +
                              $"(per node: {string.Join(", ", cpu.Select(c => $"{c.TotalMilliseconds / o.Emails:0.00}"))} ms); peak working set of a node {peakRss / 1048576} MB");
            Console.WriteLine($"    API latency (POST, while loaded): p50 {Pct(0.5):0.0} ms, p95 {Pct(0.95):0.0} ms, p99 {Pct(0.99):0.0} ms, max {latencies[^1]:0.0} ms");
            foreach (var c in clients) c.Dispose();
        }
        finally
        {
            foreach (var p in processes)
            {
                try { if (!p.HasExited) Process.Start("kill", ["-TERM", p.Id.ToString()])?.WaitForExit(); } catch (Exception) { }
            }
            foreach (var p in processes)
            {
                if (!p.WaitForExit(30_000)) p.Kill(entireProcessTree: true);
                p.Dispose();
            }
            foreach (var d in dataPaths) try { Directory.Delete(d, true); } catch (IOException) { }
            await EndToEnd.DeleteQueues(o.Uri, prefix);
            await using var admin = new Npgsql.NpgsqlConnection(o.Postgres);
            await admin.OpenAsync();
            await new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", admin).ExecuteNonQueryAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitReadyAsync(int port, Process p)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (p.HasExited) throw new InvalidOperationException($"a node on port {port} exited with {p.ExitCode} while starting");
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/health/ready")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"the node on port {port} was not ready within 3 minutes");
    }

    private static async Task WaitSentAsync(MailgunFakeServer fake, int target)
    {
        var clock = Stopwatch.StartNew();
        while (fake.AcceptedCount < target)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"{fake.AcceptedCount}/{target} sent after 5 min");
            await Task.Delay(5);
        }
    }

    /// <summary>POSTs <paramref name="count"/> emails with <paramref name="concurrency"/> requests in flight, round-robin over the nodes.</summary>
    private static async Task PostAsync(HttpClient[] clients, byte[] payload, int count, int concurrency, double[]? latencies)
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
                using var r = await clients[i % clients.Length].PostAsync("/api/emails", content);
                if ((int)r.StatusCode != 202) throw new InvalidOperationException($"POST: {(int)r.StatusCode} {Encoding.UTF8.GetString(await r.Content.ReadAsByteArrayAsync())}");
                if (latencies is not null) latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }));
    }
}

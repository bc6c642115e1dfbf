using System.Collections.Concurrent;
using System.Diagnostics;
using AkkaMail.Domain;
using AkkaMail.Providers;
using AkkaMail.Sending;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AkkaMail.IntegrationTests;

/// <summary>
/// A provider that calls nothing: a fixed latency, then the outcome its script picks (by subject and attempt).
/// It records every call, so a test can count sends per email and see when each attempt happened.
/// </summary>
public sealed class StubProvider : IEmailProvider
{
    public sealed record Call(string EmailId, int Attempt, string Subject, DateTime At, SendOutcome Outcome);

    private readonly ConcurrentQueue<Call> _calls = new();
    private int _inFlight;
    private int _maxInFlight;

    public TimeSpan Latency { get; set; }
    public Func<OutgoingEmail, SendOutcome?> Script { get; set; } = _ => null;
    public string Name => "stub";
    public IReadOnlyList<Call> Calls => _calls.ToArray();
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
        try
        {
            if (Latency > TimeSpan.Zero) await Task.Delay(Latency, ct);
            var outcome = Script(email) ?? new SendOutcome.Sent("stub-" + email.EmailId + "-" + email.Attempt);
            _calls.Enqueue(new Call(email.EmailId, email.Attempt, email.Content.Subject, DateTime.UtcNow, outcome));
            return outcome;
        }
        finally { Interlocked.Decrement(ref _inFlight); }
    }

    /// <summary>Provider calls that succeeded, per email.</summary>
    public Dictionary<string, int> SentCounts() =>
        Calls.Where(c => c.Outcome is SendOutcome.Sent).GroupBy(c => c.EmailId).ToDictionary(g => g.Key, g => g.Count());

    public Action<WebApplicationBuilder> Register => b => b.Services.AddSingleton<IEmailProvider>(this);
}

/// <summary>Unique queue names per test, the HOCON that points the service at them, and broker-side checks.</summary>
public sealed class RabbitFixture : IAsyncDisposable
{
    public const string Uri = "amqp://guest:guest@localhost:5672/";

    public RabbitFixture()
    {
        Prefix = "it-" + Guid.NewGuid().ToString("N")[..10];
    }

    public string Prefix { get; }
    public string WorkQueue => Prefix + ".send";
    public string DeadLetterQueue => Prefix + ".dead";
    public string DelayPrefix => Prefix + ".delay.";
    public static readonly string[] Buckets = ["100ms", "250ms", "500ms", "1s", "2s", "5s", "1h", "24h"];

    /// <summary>The settings the service reads from <see cref="Hocon"/>: these queues, small backoffs.</summary>
    public RabbitMqSendQueueSettings QueueSettings(ushort prefetch = 10) =>
        RabbitMqSendQueueSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(Hocon(prefetch)), Uri);

    /// <summary>HOCON for the service: these queues, small backoffs, and whatever the test adds.</summary>
    public string Hocon(int prefetch = 10, int parallelism = 4, string extra = "") => $$"""
        akkamail {
          rabbitmq {
            work-queue = "{{WorkQueue}}"
            delay-queue-prefix = "{{DelayPrefix}}"
            dead-letter-queue = "{{DeadLetterQueue}}"
            prefetch = {{prefetch}}
            restart-min-backoff = 200ms
            restart-max-backoff = 2s
            delay-buckets = [{{string.Join(", ", Buckets)}}]
          }
          sender { parallelism = {{parallelism}}, rate-limit { per-second = 100000, burst = 100000 } }
          retry { min-backoff = 200ms, max-backoff = 1s, jitter = 0.1 }
          sweep { interval = 2s, pickup-timeout = 20s }
        }
        {{extra}}
        """;

    public static IEnumerable<string> ServiceArgs(params string[] more) =>
    [
        "--AkkaMail:Transport=rabbitmq", $"--RabbitMq:Uri={Uri}",
        "--AkkaMail:RateLimit:PerSecond=100000", "--AkkaMail:RateLimit:Burst=100000", .. more,
    ];

    private IEnumerable<string> AllQueues() =>
        new[] { WorkQueue, DeadLetterQueue }.Concat(Buckets.Select(b => DelayPrefix + b));

    public static async Task<IConnection> ConnectAsync() =>
        await new ConnectionFactory { Uri = new System.Uri(Uri), ClientProvidedName = "it-admin" }.CreateConnectionAsync();

    /// <summary>Ready messages in a queue (passive declare).</summary>
    public async Task<uint> ReadyCountAsync(string queue)
    {
        await using var conn = await ConnectAsync();
        await using var ch = await conn.CreateChannelAsync();
        var ok = await ch.QueueDeclarePassiveAsync(queue);
        return ok.MessageCount;
    }

    /// <summary>Takes every message off a queue (auto-ack) and returns their bodies and headers.</summary>
    public async Task<List<(string Body, IDictionary<string, object?>? Headers)>> DrainAsync(string queue)
    {
        await using var conn = await ConnectAsync();
        await using var ch = await conn.CreateChannelAsync();
        var result = new List<(string, IDictionary<string, object?>?)>();
        while (await ch.BasicGetAsync(queue, autoAck: true) is { } m)
            result.Add((System.Text.Encoding.UTF8.GetString(m.Body.Span), m.BasicProperties.Headers));
        return result;
    }

    /// <summary>messages_ready, messages_unacknowledged of the work queue, from rabbitmqctl (what the broker sees).</summary>
    public async Task<(long Ready, long Unacked)> WorkQueueCountsAsync()
    {
        var output = await Rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged");
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && parts[0] == WorkQueue) return (long.Parse(parts[1]), long.Parse(parts[2]));
        }
        return (-1, -1);
    }

    public static async Task<string> Rabbitmqctl(params string[] args)
    {
        var psi = new ProcessStartInfo("rabbitmqctl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)}: {await stderr}");
        return await stdout;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var conn = await ConnectAsync();
            await using var ch = await conn.CreateChannelAsync();
            foreach (var q in AllQueues())
                await ch.QueueDeleteAsync(q, ifUnused: false, ifEmpty: false);
        }
        catch (Exception) { /* best effort */ }
    }
}

/// <summary>Working set and GC heap of this process, sampled while a test runs.</summary>
public sealed class MemorySampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<(TimeSpan At, long WorkingSet, long Heap)> _samples = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public MemorySampler(TimeSpan every)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Sample();
                try { await Task.Delay(every, _stop.Token); } catch (OperationCanceledException) { }
            }
        });
    }

    private void Sample()
    {
        using var p = Process.GetCurrentProcess();
        lock (_samples) _samples.Add((_clock.Elapsed, p.WorkingSet64, GC.GetTotalMemory(false)));
    }

    public IReadOnlyList<(TimeSpan At, long WorkingSet, long Heap)> Samples { get { lock (_samples) return _samples.ToArray(); } }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        Sample();
    }
}

using System.Net;
using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.Sending;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

using AkkaMail.Api.Tests;

namespace AkkaMail.IntegrationTests;

/// <summary>The whole service over HTTP with the RabbitMQ transport and a stub provider (issue 4's "done when").</summary>
[Collection(BrokerCollection.Name)]
public sealed class PipelineTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly RabbitFixture _rabbit = new();
    private readonly StubProvider _provider = new();
    private ServiceHost? _host;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
        await _rabbit.DisposeAsync();
    }

    private async Task<HttpClient> StartAsync(int prefetch = 10, int parallelism = 4, string extra = "")
    {
        _host = await ServiceHost.StartAsync(hoconOverrides: _rabbit.Hocon(prefetch, parallelism, extra), extraArgs: RabbitFixture.ServiceArgs(), configure: _provider.Register);
        return _host.AdminClient();
    }

    private static async Task<List<string>> PostManyAsync(HttpClient client, int count, int concurrency, string subject = "hello")
    {
        var ids = new List<string>();
        var gate = new SemaphoreSlim(concurrency);
        var tasks = Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try { return await client.PostEmailAsync($"{subject} {i}"); }
            finally { gate.Release(); }
        }).ToList();
        ids.AddRange(await Task.WhenAll(tasks));
        return ids;
    }

    private void AssertSentExactlyOnce(IReadOnlyCollection<string> ids, Dictionary<string, string> statuses)
    {
        Assert.All(statuses.Values, s => Assert.Equal("sent", s));
        var counts = _provider.SentCounts();
        Assert.Equal(ids.Count, counts.Count);
        Assert.All(ids, id => Assert.Equal(1, counts.GetValueOrDefault(id)));
    }

    [Fact]
    public async Task Backpressure_slow_provider_holds_at_most_prefetch_unacked_and_memory_stays_flat()
    {
        _provider.Latency = TimeSpan.FromMilliseconds(200);
        using var client = await StartAsync(prefetch: 10, parallelism: 4);
        var sw = Stopwatch.StartNew();
        var memory = new MemorySampler(TimeSpan.FromMilliseconds(250));
        var unacked = new List<(long Ready, long Unacked)>();
        using var stopBroker = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stopBroker.IsCancellationRequested)
            {
                var c = await _rabbit.WorkQueueCountsAsync();
                lock (unacked) unacked.Add(c);
                await Task.Delay(300);
            }
        });
        var ids = await PostManyAsync(client, 120, concurrency: 32);
        output.WriteLine($"120 POSTed in {sw.ElapsedMilliseconds} ms");
        var statuses = await client.WaitForAllAsync(ids, s => s is "sent" or "failed", TimeSpan.FromSeconds(40));
        output.WriteLine($"all sent after {sw.ElapsedMilliseconds} ms");
        stopBroker.Cancel();
        await watcher;
        await memory.DisposeAsync();

        AssertSentExactlyOnce(ids, statuses);
        Assert.InRange(_provider.MaxInFlight, 1, 4);
        lock (unacked)
        {
            output.WriteLine("work queue (ready, unacked): " + string.Join(" ", unacked.Select(u => $"({u.Ready},{u.Unacked})")));
            Assert.Contains(unacked, u => u.Ready > 0);        // the producer really was ahead of the consumer
            Assert.All(unacked, u => Assert.InRange(u.Unacked, -1, 10));
        }
        var samples = memory.Samples;
        foreach (var s in samples.Where((_, i) => i % 4 == 0))
            output.WriteLine($"t={s.At.TotalSeconds:0.0}s working set {s.WorkingSet / 1048576} MB, GC heap {s.Heap / 1048576} MB");
        // Flat: the backlog waits in the broker, not in the service. The heap may breathe with GC, never grow with it.
        var firstHalf = samples.Take(samples.Count / 2).Max(s => s.Heap);
        var secondHalf = samples.Skip(samples.Count / 2).Max(s => s.Heap);
        Assert.True(secondHalf < firstHalf * 2 + 64L * 1048576, $"GC heap grew: {firstHalf / 1048576} MB → {secondHalf / 1048576} MB");
    }

    [Fact]
    public async Task A_publish_the_broker_refuses_is_retried_by_the_dispatcher_not_dropped()
    {
        // The work queue takes at most 5 ready jobs and refuses (nacks) the rest: most first publishes fail.
        _provider.Latency = TimeSpan.FromMilliseconds(50);
        using var client = await StartAsync(prefetch: 2, parallelism: 1, extra: "akkamail.rabbitmq.work-queue-max-length = 5");
        var ids = await PostManyAsync(client, 30, concurrency: 30);
        var statuses = await client.WaitForAllAsync(ids, s => s is "sent" or "failed", TimeSpan.FromSeconds(40));
        var queue = _host!.App.Services.GetRequiredService<RabbitMqSendQueue>();
        output.WriteLine($"publishes confirmed {queue.Counters.Confirmed}, refused {queue.Counters.Failed}");
        Assert.True(queue.Counters.Failed > 0, "expected refused publishes");
        AssertSentExactlyOnce(ids, statuses);
    }

    [Fact]
    public async Task Consumer_crash_mid_run_every_email_sent_exactly_once()
    {
        _provider.Latency = TimeSpan.FromMilliseconds(100);
        using var client = await StartAsync(prefetch: 20, parallelism: 4);
        const int emails = 200;
        // Still POSTing while the crash comes: on a busy machine the POSTs take as long as the sends.
        var posting = PostManyAsync(client, emails, concurrency: 32);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (_provider.Calls.Count < 20 && DateTime.UtcNow < deadline) await Task.Delay(20);
        // Slow the provider while rabbitmqctl finds and closes the connection (two CLI runs, seconds on a busy
        // machine): the run must still be in progress, with jobs in flight, when the connection goes.
        _provider.Latency = TimeSpan.FromSeconds(2);
        // Kill the consumer's connection under it: its in-flight jobs come back as redeliveries.
        var closed = await CloseConnectionAsync("akkamail-consumer:" + _rabbit.WorkQueue);
        var sendsBeforeCrash = _provider.Calls.Count;
        _provider.Latency = TimeSpan.FromMilliseconds(100);
        output.WriteLine($"closed {closed} consumer connection(s) after {sendsBeforeCrash} sends");
        Assert.True(closed >= 1);
        Assert.True(sendsBeforeCrash < emails - 40, "the run was (nearly) over before the crash");
        var ids = await posting;
        var statuses = await client.WaitForAllAsync(ids, s => s is "sent" or "failed", TimeSpan.FromSeconds(45));
        AssertSentExactlyOnce(ids, statuses);
    }

    [Fact]
    public async Task Broker_restart_mid_run_the_run_completes_and_nothing_is_lost()
    {
        _provider.Latency = TimeSpan.FromMilliseconds(100);
        using var client = await StartAsync(prefetch: 20, parallelism: 4);
        const int emails = 200;
        var posting = PostManyAsync(client, emails, concurrency: 32);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (_provider.Calls.Count < 30 && DateTime.UtcNow < deadline) await Task.Delay(20);
        List<string> ids;
        try
        {
            // Slow sends while rabbitmqctl stops the broker (seconds on a busy machine): the run must still be going.
            _provider.Latency = TimeSpan.FromSeconds(2);
            await RabbitFixture.Rabbitmqctl("stop_app");
            var sendsBeforeStop = _provider.Calls.Count;
            _provider.Latency = TimeSpan.FromMilliseconds(100);
            output.WriteLine($"broker stopped after {sendsBeforeStop} sends");
            Assert.True(sendsBeforeStop < emails, "the run was over before the broker stopped");
            await Task.Delay(2000);
        }
        finally
        {
            await RabbitFixture.Rabbitmqctl("start_app");
            await RabbitFixture.Rabbitmqctl("await_startup");
            ids = await posting;
        }
        var statuses = await client.WaitForAllAsync(ids, s => s is "sent" or "failed", TimeSpan.FromSeconds(60));
        Assert.All(statuses.Values, s => Assert.Equal("sent", s));
        var counts = _provider.SentCounts();
        Assert.All(ids, id => Assert.True(counts.GetValueOrDefault(id) >= 1));
        output.WriteLine($"sends: {counts.Values.Sum()} for {ids.Count} emails (a send whose outcome was recorded is never repeated)");
        Assert.All(ids, id => Assert.Equal(1, counts[id]));
    }

    [Fact]
    public async Task Readiness_turns_503_naming_the_queue_while_the_broker_is_down_and_200_when_it_is_back()
    {
        using var client = await StartAsync();
        async Task<(HttpStatusCode Status, System.Text.Json.Nodes.JsonNode Body)> ReadyAsync()
        {
            var r = await client.GetAsync("/health/ready");
            return (r.StatusCode, System.Text.Json.Nodes.JsonNode.Parse(await r.Content.ReadAsStringAsync())!);
        }
        var (status, body) = await ReadyAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", body["checks"]!["queue"]!["status"]!.GetValue<string>());
        try
        {
            await RabbitFixture.Rabbitmqctl("stop_app");
            (status, body) = await ReadyAsync();
            output.WriteLine($"broker down: {(int)status} {body.ToJsonString()}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal(new[] { "queue" }, body["failing"]!.AsArray().Select(f => f!.GetValue<string>()));
            Assert.Contains("rabbitmq", body["checks"]!["queue"]!["detail"]!.GetValue<string>());
        }
        finally
        {
            await RabbitFixture.Rabbitmqctl("start_app");
            await RabbitFixture.Rabbitmqctl("await_startup");
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            (status, body) = await ReadyAsync();
            if (status == HttpStatusCode.OK) break;
            await Task.Delay(250);
        } while (DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.OK, status);
        // and the service works again
        var id = await client.PostEmailAsync("after the broker came back");
        var statuses = await client.WaitForAllAsync(new[] { id }, s => s is "sent" or "failed", TimeSpan.FromSeconds(30));
        Assert.Equal("sent", statuses[id]);
    }

    [Fact]
    public async Task Provider_failing_30_percent_with_429_and_503_every_email_ends_sent_with_attempts_spaced_by_backoff()
    {
        _provider.Script = e =>
        {
            var roll = (uint)HashCode.Combine(e.EmailId, e.Attempt) % 100;
            return roll switch
            {
                < 15 => new SendOutcome.Transient("429 Too Many Requests", TimeSpan.FromMilliseconds(600)),
                < 30 => new SendOutcome.Transient("503 Service Unavailable"),
                _ => null,
            };
        };
        using var client = await StartAsync(prefetch: 20, parallelism: 4);
        var ids = await PostManyAsync(client, 100, concurrency: 16);
        var statuses = await client.WaitForAllAsync(ids, s => s is "sent" or "failed", TimeSpan.FromSeconds(40));
        AssertSentExactlyOnce(ids, statuses);
        var calls = _provider.Calls;
        var retried = 0;
        foreach (var group in calls.GroupBy(c => c.EmailId))
        {
            var ordered = group.OrderBy(c => c.Attempt).ToList();
            Assert.Equal(Enumerable.Range(1, ordered.Count), ordered.Select(c => c.Attempt));
            for (var i = 1; i < ordered.Count; i++)
            {
                retried++;
                var gap = ordered[i].At - ordered[i - 1].At;
                // min-backoff 200ms * 2^(attempt-2), jitter 10%, capped at 1s; a 429's retry-after (600ms) is a floor.
                var backoff = TimeSpan.FromMilliseconds(Math.Min(1000, 200 * Math.Pow(2, ordered[i].Attempt - 2)) * 0.9);
                if (ordered[i - 1].Outcome is SendOutcome.Transient { RetryAfter: { } ra } && ra > backoff) backoff = ra;
                Assert.True(gap >= backoff - TimeSpan.FromMilliseconds(15),
                    $"{group.Key}: attempt {ordered[i].Attempt} came {gap.TotalMilliseconds:0} ms after the previous one, backoff {backoff.TotalMilliseconds:0} ms");
            }
        }
        output.WriteLine($"{calls.Count} provider calls, {retried} retries");
        Assert.True(retried >= 15, $"only {retried} retries");
    }

    [Fact]
    public async Task A_400_fails_the_email_at_once_and_exhausted_attempts_go_to_the_dead_letter_queue()
    {
        _provider.Script = e => e.Content.Subject switch
        {
            "bad request" => new SendOutcome.Permanent("400 Bad Request: 'to' parameter is not a valid address"),
            "always busy" => new SendOutcome.Transient("503 Service Unavailable"),
            _ => null,
        };
        using var client = await StartAsync(extra: "akkamail.retry.max-attempts = 3");
        var bad = await client.PostEmailAsync("bad request");
        var busy = await client.PostEmailAsync("always busy");
        var fine = await client.PostEmailAsync("fine");
        var statuses = await client.WaitForAllAsync([bad, busy, fine], s => s is "sent" or "failed", TimeSpan.FromSeconds(20));
        Assert.Equal("failed", statuses[bad]);
        Assert.Equal("failed", statuses[busy]);
        Assert.Equal("sent", statuses[fine]);
        Assert.Single(_provider.Calls, c => c.EmailId == bad);
        Assert.Equal([1, 2, 3], _provider.Calls.Where(c => c.EmailId == busy).Select(c => c.Attempt).Order());
        await Task.Delay(300);
        var dead = await _rabbit.DrainAsync(_rabbit.DeadLetterQueue);
        var (body, headers) = Assert.Single(dead);
        Assert.Contains(busy, body);
        Assert.Contains("503", System.Text.Encoding.UTF8.GetString((byte[])headers![RabbitMqSendQueue.ReasonHeader]!));
    }

    private static async Task<int> CloseConnectionAsync(string connectionName)
    {
        var list = await RabbitFixture.Rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid", "client_properties");
        var closed = 0;
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.Contains($"\"{connectionName}\"")) continue;
            var pid = line.Split('\t')[0].Trim();
            await RabbitFixture.Rabbitmqctl("close_connection", pid, "integration test: consumer crash");
            closed++;
        }
        return closed;
    }
}

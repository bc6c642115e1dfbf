using System.Collections.Concurrent;
using System.Diagnostics;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Amqp.Tests;

// Restarting the broker disturbs every other test (and everyone else on this broker): run it alone.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrokerRestartCollection
{
    public const string Name = "broker restart";
}

[Collection(BrokerRestartCollection.Name)]
public class BrokerRestartTests(ITestOutputHelper output) : BrokerTestBase(output)
{
    [Fact(Timeout = 120_000)]
    public async Task Restartable_source_and_flow_lose_no_confirmed_message_across_a_broker_restart()
    {
        const int prePublished = 300;
        var total = Stopwatch.StartNew();
        var queue = await DeclareQueueAsync(); // durable; messages persistent by default
        await PublishAsync(queue, prePublished);

        var restart = RestartSettings.Create(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2), 0.2);
        var acked = new ConcurrentDictionary<string, int>();
        var deliveries = 0;

        // Consumer: slow enough that the restart happens mid-consume. A failed ack (dead channel) is not fatal:
        // the broker redelivers that message to the next incarnation of the source.
        var (consumerSwitch, consumerDone) = AmqpSource
            .CommittableWithRestart(SourceSettings(queue, prefetch: 20), restart)
            .ViaMaterialized(KillSwitches.Single<CommittableIncomingMessage>(), Keep.Right)
            .SelectAsync(1, async m =>
            {
                Interlocked.Increment(ref deliveries);
                await Task.Delay(10);
                try
                {
                    await m.Ack();
                    acked.AddOrUpdate(m.Properties.MessageId!, 1, (_, c) => c + 1);
                }
                catch (Exception)
                {
                    // counted as not acked
                }
                return NotUsed.Instance;
            })
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Both)
            .Run(Materializer);

        // Publisher running through the restart: every Confirmed id must be consumed later.
        var confirmed = new ConcurrentBag<string>();
        var failed = 0;
        var (publisherSwitch, publisherDone) = Source.From(Enumerable.Range(0, int.MaxValue))
            .Throttle(100, TimeSpan.FromSeconds(1), 10, ThrottleMode.Shaping)
            .ViaMaterialized(KillSwitches.Single<int>(), Keep.Right)
            .Select(i => ToQueue(queue, $"live {i}", $"p-{i}").WithPassThrough($"p-{i}"))
            .Via(AmqpFlow.WithConfirmsWithRestart<string>(new AmqpSinkSettings(Connection), 50, restart))
            .ToMaterialized(Sink.ForEach<PublishResult<string>>(r =>
            {
                if (r.IsConfirmed) confirmed.Add(r.PassThrough);
                else Interlocked.Increment(ref failed);
            }), Keep.Both)
            .Run(Materializer);

        try
        {
            await EventuallyAsync(() => Task.FromResult(acked.Count >= 50), TimeSpan.FromSeconds(20), "50 acked before the restart");
            var stop = Stopwatch.StartNew();
            await RabbitMqCtlAsync("stop_app");
            TestOutput.WriteLine($"stop_app took {stop.Elapsed.TotalSeconds:F1}s; acked so far {acked.Count}");
            await Task.Delay(1000);
        }
        finally
        {
            var start = Stopwatch.StartNew();
            await RabbitMqCtlAsync("start_app");
            TestOutput.WriteLine($"start_app took {start.Elapsed.TotalSeconds:F1}s");
        }

        try
        {
            // Let the publisher run a little on the recovered broker, then stop it and wait for its last confirms.
            await EventuallyAsync(() => Task.FromResult(confirmed.Count >= 1 && acked.Count > 60), TimeSpan.FromSeconds(20), "traffic after restart");
            await Task.Delay(1000);
            publisherSwitch.Shutdown();
            await publisherDone.WaitAsync(TimeSpan.FromSeconds(20));

            var expected = Enumerable.Range(0, prePublished).Select(i => i.ToString()).Concat(confirmed).ToHashSet();
            var deadline = TimeSpan.FromSeconds(70) - total.Elapsed;
            await EventuallyAsync(async () => expected.All(acked.ContainsKey) && await ReadyCountAsync(queue) == 0,
                deadline > TimeSpan.FromSeconds(5) ? deadline : TimeSpan.FromSeconds(5),
                "every pre-published and every confirmed message acked");

            TestOutput.WriteLine($"{prePublished} pre-published + {confirmed.Count} confirmed live ({failed} reported Failed); " +
                                 $"{deliveries} deliveries, {acked.Count} distinct ids acked, " +
                                 $"{acked.Values.Count(c => c > 1)} acked more than once; {total.Elapsed.TotalSeconds:F1}s");
        }
        finally
        {
            consumerSwitch.Shutdown();
            publisherSwitch.Shutdown();
        }
        await consumerDone.WaitAsync(TimeSpan.FromSeconds(15));
    }

    private async Task RabbitMqCtlAsync(string command)
    {
        var psi = new ProcessStartInfo("rabbitmqctl", command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl {command} exited {process.ExitCode}: {await stdout} {await stderr}");
    }
}

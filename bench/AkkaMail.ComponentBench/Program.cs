using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Amqp;
using AkkaMail.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using RabbitMQ.Client;

// The reusable components' throughput on their own, printed, never asserted (the service end to end is
// bench/AkkaMail.Bench). Figures in bench/AkkaMail.Bench/README.md.
//   dotnet run -c Release --project bench/AkkaMail.ComponentBench -- journal [--writers 500] [--events 40]
//   dotnet run -c Release --project bench/AkkaMail.ComponentBench -- amqp [--messages 20000] [--uri amqp://...]
var mode = args.FirstOrDefault() ?? "";
string Get(string name, string fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

switch (mode)
{
    case "journal":
        await JournalBench.RunAsync(int.Parse(Get("writers", "500")), int.Parse(Get("events", "40")));
        return 0;
    case "amqp":
        await AmqpBench.RunAsync(
            Get("uri", Environment.GetEnvironmentVariable("RabbitMq__Uri") ?? "amqp://guest:guest@localhost:5672/"),
            int.Parse(Get("messages", "20000")));
        return 0;
    default:
        Console.Error.WriteLine("usage: AkkaMail.ComponentBench journal [--writers N] [--events N] | amqp [--messages N] [--uri URI]");
        return 2;
}

/// <summary>
/// AkkaMail.Persistence.Sqlite behind real persistent actors: many writers, each persisting one event at a time
/// (the next after the previous one is stored), in a temporary database file.
/// </summary>
static class JournalBench
{
    public static async Task RunAsync(int writers, int eventsPerWriter)
    {
        var path = Path.Combine(Path.GetTempPath(), $"akkamail-componentbench-{Guid.NewGuid():N}.db");
        var config = SqlitePersistenceConfig.Create($"Data Source={path}")
            .WithFallback(ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        var system = ActorSystem.Create("journal-bench", config);
        try
        {
            var actors = Enumerable.Range(0, writers)
                .Select(i => system.ActorOf(Props.Create(() => new OneByOneWriter($"bench-{i}-{Guid.NewGuid():N}"))))
                .ToArray();
            // Recovered first, so that only writing is timed.
            await Task.WhenAll(actors.Select(a => a.Ask<int>(new OneByOneWriter.Count(), TimeSpan.FromSeconds(60))));

            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(actors.Select(a => a.Ask<int>(new OneByOneWriter.Persist(eventsPerWriter), TimeSpan.FromMinutes(5))));
            stopwatch.Stop();

            var total = writers * eventsPerWriter;
            Console.WriteLine(
                $"SQLite journal: {total} events from {writers} writers (one event per write) in {stopwatch.ElapsedMilliseconds} ms: " +
                $"{total / stopwatch.Elapsed.TotalSeconds:F0} events/s");
        }
        finally
        {
            await system.Terminate();
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
                File.Delete(path + suffix);
        }
    }

    private sealed class OneByOneWriter : ReceivePersistentActor
    {
        public sealed record Persist(int Remaining);

        public sealed record Count;

        private int _events;

        public OneByOneWriter(string persistenceId)
        {
            PersistenceId = persistenceId;
            Recover<int>(_ => _events++);
            Command<Count>(_ => Sender.Tell(_events));
            Command<Persist>(m => PersistNext(m.Remaining, Sender));
        }

        public override string PersistenceId { get; }

        private void PersistNext(int remaining, IActorRef replyTo)
        {
            if (remaining == 0)
            {
                replyTo.Tell(_events);
                return;
            }
            Persist(_events + 1, _ =>
            {
                _events++;
                PersistNext(remaining - 1, replyTo);
            });
        }
    }
}

/// <summary>
/// AkkaMail.Amqp against a broker: the bare client (500 publishes in flight, awaited in batches) as the baseline,
/// then the confirming sink (500 in flight) and the committable source (prefetch 500, one ack per message),
/// 1 KB persistent messages, on a queue of its own that is deleted afterwards.
/// </summary>
static class AmqpBench
{
    public static async Task RunAsync(string uri, int messages)
    {
        var connection = AmqpConnectionSettings.FromUri(uri, "AkkaMail.ComponentBench");
        var queue = $"akkamail.componentbench.{Guid.NewGuid():N}";
        var body = new byte[1024];
        Random.Shared.NextBytes(body);
        var system = ActorSystem.Create("amqp-bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        var materializer = system.Materializer();
        await using var admin = await connection.CreateConnectionAsync();
        await using var channel = await admin.CreateChannelAsync();
        try
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);

            var stopwatch = Stopwatch.StartNew();
            await using (var bare = await admin.CreateChannelAsync(new CreateChannelOptions(true, true, new ThrottlingRateLimiter(1000))))
            {
                for (var sent = 0; sent < messages; sent += 500)
                    await Task.WhenAll(Enumerable.Range(0, Math.Min(500, messages - sent)).Select(_ =>
                        bare.BasicPublishAsync("", queue, true, new BasicProperties { Persistent = true }, body).AsTask()));
            }
            Console.WriteLine($"bare client, publish with confirms, batches of 500: {messages / stopwatch.Elapsed.TotalSeconds:F0} msg/s");
            await channel.QueuePurgeAsync(queue);

            stopwatch.Restart();
            await Source.From(Enumerable.Range(0, messages))
                .Select(_ => new OutgoingMessage("", queue, body))
                .RunWith(AmqpSink.WithConfirms(new AmqpSinkSettings(connection), maxInFlight: 500), materializer);
            Console.WriteLine($"AmqpSink.WithConfirms (500 in flight, 1 KB persistent): {messages / stopwatch.Elapsed.TotalSeconds:F0} msg/s");

            stopwatch.Restart();
            var consumed = await AmqpSource.Committable(new AmqpSourceSettings(connection, queue) { Prefetch = 500 })
                .SelectAsync(64, async m => { await m.Ack(); return 1; })
                .Take(messages)
                .RunAggregate(0, (count, one) => count + one, materializer);
            Console.WriteLine($"AmqpSource.Committable, one ack per message (prefetch 500): {consumed / stopwatch.Elapsed.TotalSeconds:F0} msg/s");
        }
        finally
        {
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
            await system.Terminate();
        }
    }
}

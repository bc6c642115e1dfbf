using RabbitMQ.Client;

namespace AkkaMail.CrashTests;

/// <summary>Queue names of one test (unique prefix), the HOCON that points the service at them, and their deletion.</summary>
public sealed class RabbitQueues : IAsyncDisposable
{
    public const string Uri = "amqp://guest:guest@localhost:5672/";
    public static readonly string[] Buckets = ["100ms", "250ms", "500ms", "1s", "2s", "5s", "10s", "1m", "1h", "24h"];

    public RabbitQueues() => Prefix = "crash-" + Guid.NewGuid().ToString("N")[..10];

    public string Prefix { get; }
    public string WorkQueue => Prefix + ".send";
    public string DeadLetterQueue => Prefix + ".dead";
    public string DelayPrefix => Prefix + ".delay.";
    public IEnumerable<string> AllQueues => new[] { WorkQueue, DeadLetterQueue }.Concat(Buckets.Select(b => DelayPrefix + b));

    public string Hocon => $$"""
        akkamail.rabbitmq {
          work-queue = "{{WorkQueue}}"
          delay-queue-prefix = "{{DelayPrefix}}"
          dead-letter-queue = "{{DeadLetterQueue}}"
          restart-min-backoff = 200ms
          restart-max-backoff = 2s
          delay-buckets = [{{string.Join(", ", Buckets)}}]
        }
        """;

    /// <summary>Null when a broker answers on localhost:5672 (guest/guest), else why not.</summary>
    public static async Task<string?> UnavailableAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var c = await new ConnectionFactory { Uri = new System.Uri(Uri), RequestedConnectionTimeout = TimeSpan.FromSeconds(3) }
                .CreateConnectionAsync(cts.Token);
            return null;
        }
        catch (Exception e)
        {
            return $"RabbitMQ is not reachable at {Uri}: {e.GetType().Name}: {e.Message}";
        }
    }

    /// <summary>Messages (ready + unacked are not told apart by a passive declare: ready only) left in each queue.</summary>
    public async Task<Dictionary<string, uint>> ReadyCountsAsync()
    {
        var counts = new Dictionary<string, uint>();
        await using var conn = await new ConnectionFactory { Uri = new System.Uri(Uri) }.CreateConnectionAsync();
        foreach (var q in AllQueues)
        {
            try
            {
                await using var ch = await conn.CreateChannelAsync();
                counts[q] = (await ch.QueueDeclarePassiveAsync(q)).MessageCount;
            }
            catch (Exception) { /* not declared */ }
        }
        return counts;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var conn = await new ConnectionFactory { Uri = new System.Uri(Uri) }.CreateConnectionAsync();
            await using var ch = await conn.CreateChannelAsync();
            foreach (var q in AllQueues)
                await ch.QueueDeleteAsync(q, ifUnused: false, ifEmpty: false);
        }
        catch (Exception) { /* best effort */ }
    }
}

using System.Text;
using Akka.Streams;
using Akka.Streams.Dsl;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Amqp.Tests;

/// Real-broker test base: unique names per test, everything declared through it is deleted at the end.
public abstract class BrokerTestBase(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output), IAsyncLifetime
{
    protected static readonly AmqpConnectionSettings Connection = new()
    {
        HostName = Environment.GetEnvironmentVariable("AKKAMAIL_TEST_RABBITMQ_HOST") ?? "localhost",
        ClientProvidedName = "AkkaMail.Amqp.Tests",
    };

    protected readonly ITestOutputHelper TestOutput = output;
    private readonly List<string> _queues = new();
    private readonly List<string> _exchanges = new();
    private IConnection? _admin;
    private IChannel? _adminChannel;

    /// The test's own channel for declarations and counts; reopened if a broker restart closed it.
    protected IChannel Admin => _adminChannel is { IsOpen: true } ? _adminChannel
        : throw new InvalidOperationException("admin channel closed; use AdminAsync()");

    protected async Task<IChannel> AdminAsync()
    {
        if (_adminChannel is { IsOpen: true }) return _adminChannel;
        if (_admin is not { IsOpen: true })
            _admin = await (Connection with { ClientProvidedName = "AkkaMail.Amqp.Tests.admin" }).CreateConnectionAsync();
        return _adminChannel = await _admin.CreateChannelAsync();
    }
    protected IMaterializer Materializer => Sys.Materializer();

    public async Task InitializeAsync()
    {
        await AdminAsync();
    }

    public async Task DisposeAsync()
    {
        try
        {
            var ch = await AdminAsync();
            foreach (var q in _queues) await ch.QueueDeleteAsync(q, ifUnused: false, ifEmpty: false);
            foreach (var e in _exchanges) await ch.ExchangeDeleteAsync(e, ifUnused: false);
        }
        finally
        {
            if (_admin is not null)
            {
                await _admin.CloseAsync();
                _admin.Dispose();
            }
        }
    }

    protected string NewQueueName(string purpose = "q")
    {
        var name = $"akkamail.amqp.tests.{purpose}.{Guid.NewGuid():N}";
        _queues.Add(name);
        return name;
    }

    protected string NewExchangeName(string purpose = "x")
    {
        var name = $"akkamail.amqp.tests.{purpose}.{Guid.NewGuid():N}";
        _exchanges.Add(name);
        return name;
    }

    protected async Task<string> DeclareQueueAsync(QueueDeclaration? declaration = null)
    {
        var q = declaration ?? new QueueDeclaration(NewQueueName());
        if (!_queues.Contains(q.Name)) _queues.Add(q.Name);
        await AmqpTopology.Empty.WithQueue(q).DeclareAsync(await AdminAsync());
        return q.Name;
    }

    protected async Task<uint> ReadyCountAsync(string queue) => (await (await AdminAsync()).QueueDeclarePassiveAsync(queue)).MessageCount;

    protected async Task<uint> ConsumerCountAsync(string queue) => (await (await AdminAsync()).QueueDeclarePassiveAsync(queue)).ConsumerCount;

    protected static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await TryAsync(condition))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for: {what}");
            await Task.Delay(100);
        }
    }

    private static async Task<bool> TryAsync(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (Exception)
        {
            return false; // e.g. the broker is still starting: ask again
        }
    }

    protected static OutgoingMessage ToQueue(string queue, string text, string? messageId = null) =>
        new("", queue, Encoding.UTF8.GetBytes(text))
        {
            Mandatory = true,
            Properties = messageId is null ? null : new BasicProperties { MessageId = messageId },
        };

    /// Publishes n messages (message id = index) through the confirming sink; returns when all are confirmed.
    protected Task PublishAsync(string queue, int n, int bodySize = 0, int maxInFlight = 200) =>
        Source.From(Enumerable.Range(0, n))
            .Select(i => ToQueue(queue, bodySize > 0 ? new string('x', bodySize) : $"message {i}", i.ToString()))
            .RunWith(AmqpSink.WithConfirms(new AmqpSinkSettings(Connection), maxInFlight), Materializer)
            .WaitAsync(TimeSpan.FromSeconds(60));

    protected AmqpSourceSettings SourceSettings(string queue, ushort prefetch = 50) =>
        new(Connection, queue) { Prefetch = prefetch };
}

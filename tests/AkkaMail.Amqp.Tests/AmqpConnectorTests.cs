using System.Collections.Concurrent;
using System.Text;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Streams.TestKit;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Amqp.Tests;

public class AmqpConnectorTests(ITestOutputHelper output) : BrokerTestBase(output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 30_000)]
    public async Task Topology_message_ttl_dead_letters_into_the_dlq()
    {
        var dlq = NewQueueName("dlq");
        var work = new QueueDeclaration(NewQueueName("ttl"))
            .WithDeadLetter("", dlq) // default exchange + routing key = the DLQ's name
            .WithMessageTtl(TimeSpan.FromMilliseconds(200));
        var topology = AmqpTopology.Empty.WithQueue(new QueueDeclaration(dlq)).WithQueue(work);

        Assert.Equal(200L, work.Arguments[QueueArguments.MessageTtlKey]);
        Assert.Equal(dlq, work.Arguments[QueueArguments.DeadLetterRoutingKeyKey]);

        // The sink declares the topology when it connects.
        await Source.Single(ToQueue(work.Name, "expires"))
            .RunWith(AmqpSink.WithConfirms(new AmqpSinkSettings(Connection) { Topology = topology }, 10), Materializer)
            .WaitAsync(Timeout);

        await EventuallyAsync(async () => await ReadyCountAsync(dlq) == 1, TimeSpan.FromSeconds(10), "message in DLQ");
        Assert.Equal(0u, await ReadyCountAsync(work.Name));
    }

    [Fact(Timeout = 60_000)]
    public async Task Round_trip_1000_messages_publish_confirm_consume_ack()
    {
        const int n = 1000;
        var queue = await DeclareQueueAsync();
        await PublishAsync(queue, n);
        Assert.Equal((uint)n, await ReadyCountAsync(queue));

        var received = await AmqpSource.Committable(SourceSettings(queue, prefetch: 100))
            .SelectAsync(4, async m => { await m.Ack(); return Encoding.UTF8.GetString(m.Body.Span); })
            .Take(n)
            .RunWith(Sink.Seq<string>(), Materializer)
            .WaitAsync(Timeout);

        Assert.Equal(n, received.Count);
        Assert.Equal(n, received.Distinct().Count());
        Assert.Contains("message 999", received);
        await EventuallyAsync(async () => await ConsumerCountAsync(queue) == 0, TimeSpan.FromSeconds(10), "consumer gone");
        Assert.Equal(0u, await ReadyCountAsync(queue));
    }

    [Fact(Timeout = 30_000)]
    public async Task Element_carries_body_properties_and_envelope_copies()
    {
        var queue = await DeclareQueueAsync();
        var props = new BasicProperties
        {
            MessageId = "m-1", CorrelationId = "c-1", ContentType = "application/json",
            Headers = new Dictionary<string, object?> { ["tenant"] = "t-1" },
            Timestamp = new AmqpTimestamp(1_700_000_000),
        };
        await Source.Single(new OutgoingMessage("", queue, Encoding.UTF8.GetBytes("{}")) { Properties = props })
            .RunWith(AmqpSink.WithConfirms(new AmqpSinkSettings(Connection), 10), Materializer).WaitAsync(Timeout);

        var m = await AmqpSource.Committable(SourceSettings(queue)).RunWith(Sink.First<CommittableIncomingMessage>(), Materializer).WaitAsync(Timeout);
        // The stage may already be closing; the ack may fail then, the copies must still be readable.
        Assert.Equal("{}", Encoding.UTF8.GetString(m.Body.Span));
        Assert.Equal("m-1", m.Properties.MessageId);
        Assert.Equal("c-1", m.Properties.CorrelationId);
        Assert.Equal("application/json", m.Properties.ContentType);
        Assert.Equal(DeliveryModes.Persistent, m.Properties.DeliveryMode); // persistent by default
        Assert.Equal(1_700_000_000, m.Properties.Timestamp.UnixTime);
        Assert.Equal("t-1", Encoding.UTF8.GetString((byte[])m.Properties.Headers!["tenant"]!));
        Assert.Equal(queue, m.Envelope.RoutingKey);
        Assert.Equal("", m.Envelope.Exchange);
        Assert.False(m.Envelope.Redelivered);
        Assert.False(props.Headers!.ContainsKey("x-dotnet-pub-seq-no")); // caller's properties untouched
    }

    [Fact(Timeout = 30_000)]
    public async Task Prefetch_bounds_unacked_elements()
    {
        var queue = await DeclareQueueAsync();
        await PublishAsync(queue, 50);

        var probe = AmqpSource.Committable(SourceSettings(queue, prefetch: 10))
            .RunWith(this.SinkProbe<CommittableIncomingMessage>(), Materializer);
        probe.Request(50);
        for (var i = 0; i < 10; i++) probe.ExpectNext(TimeSpan.FromSeconds(10));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(1)); // never acked: the broker sends nothing more
        Assert.Equal(40u, await ReadyCountAsync(queue));
        probe.Cancel();
    }

    [Fact(Timeout = 30_000)]
    public async Task Nack_requeue_redelivers_with_redelivered_flag()
    {
        var queue = await DeclareQueueAsync();
        await PublishAsync(queue, 1);

        var envelopes = await AmqpSource.Committable(SourceSettings(queue))
            .SelectAsync(1, async m =>
            {
                if (m.Envelope.Redelivered) await m.Ack();
                else await m.Nack(requeue: true);
                return m.Envelope;
            })
            .Take(2)
            .RunWith(Sink.Seq<Envelope>(), Materializer).WaitAsync(Timeout);

        Assert.False(envelopes[0].Redelivered);
        Assert.True(envelopes[1].Redelivered);
        await EventuallyAsync(async () => await ConsumerCountAsync(queue) == 0, TimeSpan.FromSeconds(10), "consumer gone");
        Assert.Equal(0u, await ReadyCountAsync(queue));
    }

    [Fact(Timeout = 30_000)]
    public async Task Nack_without_requeue_dead_letters()
    {
        var dlq = NewQueueName("dlq");
        var work = new QueueDeclaration(NewQueueName("work")).WithDeadLetter("", dlq);
        var settings = SourceSettings(work.Name) with
        {
            Topology = AmqpTopology.Empty.WithQueue(new QueueDeclaration(dlq)).WithQueue(work),
        };
        var source = AmqpSource.Committable(settings)
            .SelectAsync(1, async m => { await m.Nack(requeue: false); return NotUsed.Instance; })
            .RunWith(this.SinkProbe<NotUsed>(), Materializer);
        source.Request(1);
        await EventuallyAsync(async () => { try { await ReadyCountAsync(work.Name); return true; } catch { return false; } },
            TimeSpan.FromSeconds(10), "source declared its topology");

        await PublishAsync(work.Name, 1);
        source.ExpectNext(TimeSpan.FromSeconds(10));
        await EventuallyAsync(async () => await ReadyCountAsync(dlq) == 1, TimeSpan.FromSeconds(10), "message in DLQ");
        Assert.Equal(0u, await ReadyCountAsync(work.Name));
        source.Cancel();
    }

    [Fact(Timeout = 30_000)]
    public async Task Returned_mandatory_message_fails_only_its_element()
    {
        var queue = await DeclareQueueAsync();
        var unbound = NewExchangeName("unbound");
        var settings = new AmqpSinkSettings(Connection)
        {
            Topology = AmqpTopology.Empty.WithExchange(new ExchangeDeclaration(unbound, ExchangeType.Direct)),
        };
        var messages = new[]
        {
            new OutgoingMessage<int>("", queue, Encoding.UTF8.GetBytes("a"), 1) { Mandatory = true },
            new OutgoingMessage<int>(unbound, "nowhere", Encoding.UTF8.GetBytes("b"), 2) { Mandatory = true },
            new OutgoingMessage<int>("", queue, Encoding.UTF8.GetBytes("c"), 3) { Mandatory = true },
        };

        var results = await Source.From(messages)
            .Via(AmqpFlow.WithConfirms<int>(settings, maxInFlight: 10))
            .RunWith(Sink.Seq<PublishResult<int>>(), Materializer).WaitAsync(Timeout);

        Assert.Equal(new[] { 1, 2, 3 }, results.Select(r => r.PassThrough));
        Assert.True(results[0].IsConfirmed);
        Assert.False(results[1].IsConfirmed);
        Assert.IsType<AmqpPublishFailedException>(results[1].Error);
        Assert.True(results[2].IsConfirmed);
        Assert.Equal(2u, await ReadyCountAsync(queue));

        // The sink turns the failed element into a failed materialized task.
        var sinkTask = Source.From(messages.Cast<OutgoingMessage>())
            .RunWith(AmqpSink.WithConfirms(settings, 10), Materializer);
        await Assert.ThrowsAsync<AmqpPublishFailedException>(() => sinkTask.WaitAsync(Timeout));
    }

    [Fact(Timeout = 30_000)]
    public async Task Channel_closed_by_the_broker_reports_in_flight_as_failed_then_fails_the_flow()
    {
        // Publishing to a missing exchange makes the broker close the channel (404): the stage's channel is gone.
        var missing = NewExchangeName("missing");
        var results = new List<PublishResult<int>>();
        var done = Source.Single(new OutgoingMessage<int>(missing, "rk", new byte[] { 1 }, 7))
            .Concat(Source.Never<OutgoingMessage<int>>())
            .Via(AmqpFlow.WithConfirms<int>(new AmqpSinkSettings(Connection), 10))
            .RunForeach(r => { lock (results) results.Add(r); }, Materializer);

        var error = await Assert.ThrowsAsync<AmqpChannelClosedException>(() => done.WaitAsync(Timeout));
        Assert.Equal(404, error.Reason.ReplyCode);
        var only = Assert.Single(results);
        Assert.Equal(7, only.PassThrough);
        Assert.False(only.IsConfirmed);
    }

    [Fact(Timeout = 30_000)]
    public async Task Downstream_cancel_stops_consuming_and_returns_unacked_messages()
    {
        var queue = await DeclareQueueAsync();
        await PublishAsync(queue, 20);

        var settings = SourceSettings(queue, prefetch: 10) with { PendingAckTimeout = TimeSpan.FromSeconds(1) };
        var taken = await AmqpSource.Committable(settings).Take(5)
            .RunWith(Sink.Seq<CommittableIncomingMessage>(), Materializer).WaitAsync(Timeout);
        Assert.Equal(5, taken.Count);
        // Two acked after the element left the stage (the stage is draining, the channel still open).
        await taken[0].Ack();
        await taken[1].Ack();
        // Settling a tag twice is refused locally, without closing the channel.
        await Assert.ThrowsAsync<AmqpDeliveryAlreadySettledException>(() => taken[1].Ack());

        await EventuallyAsync(async () => await ConsumerCountAsync(queue) == 0, TimeSpan.FromSeconds(10), "consumer gone");
        // 3 taken-but-unacked + 5 buffered-by-prefetch + 10 never delivered go back: 18.
        await EventuallyAsync(async () => await ReadyCountAsync(queue) == 18, TimeSpan.FromSeconds(10), "18 ready");
        // Acks after the channel closed fail visibly.
        await Assert.ThrowsAnyAsync<Exception>(() => taken[2].Ack());
    }

    [Fact(Timeout = 30_000)]
    public async Task Downstream_cancel_completes_as_soon_as_pending_acks_are_settled()
    {
        var queue = await DeclareQueueAsync();
        await PublishAsync(queue, 3);
        var settings = SourceSettings(queue) with { PendingAckTimeout = TimeSpan.FromSeconds(20) };
        var started = DateTime.UtcNow;
        await AmqpSource.Committable(settings)
            .SelectAsync(1, async m => { await m.Ack(); return m; })
            .Take(3)
            .RunWith(Sink.Ignore<CommittableIncomingMessage>(), Materializer).WaitAsync(Timeout);
        await EventuallyAsync(async () => await ConsumerCountAsync(queue) == 0, TimeSpan.FromSeconds(10), "consumer gone");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), "did not wait for the pending-ack timeout");
        Assert.Equal(0u, await ReadyCountAsync(queue));
    }

    [Fact(Timeout = 30_000)]
    public async Task Source_fails_when_its_queue_is_deleted()
    {
        var queue = await DeclareQueueAsync();
        var probe = AmqpSource.Committable(SourceSettings(queue)).RunWith(this.SinkProbe<CommittableIncomingMessage>(), Materializer);
        probe.Request(1);
        await EventuallyAsync(async () => await ConsumerCountAsync(queue) == 1, TimeSpan.FromSeconds(10), "consumer registered");
        await Admin.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
        var error = probe.ExpectError();
        Assert.IsType<AmqpConsumerCancelledException>(error);
    }

    [Fact(Timeout = 30_000)]
    public async Task Source_fails_when_the_queue_does_not_exist()
    {
        var probe = AmqpSource.Committable(SourceSettings(NewQueueName("missing"))).RunWith(this.SinkProbe<CommittableIncomingMessage>(), Materializer);
        probe.Request(1);
        probe.ExpectError();
    }
}

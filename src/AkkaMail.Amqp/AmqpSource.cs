using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace AkkaMail.Amqp;

public static class AmqpSource
{
    /// Consumes settings.Queue with manual acks. Fails when its channel or connection closes.
    /// Each materialization opens its own connection and closes it when the stage stops.
    public static Source<CommittableIncomingMessage, NotUsed> Committable(AmqpSourceSettings settings) =>
        Source.FromGraph(new CommittableSourceStage(settings));

    /// Recovery choice: the client's automatic recovery stays OFF (AmqpConnectionSettings.AutomaticRecovery)
    /// and the whole stage is restarted with backoff instead: a new connection, channel, topology declaration
    /// and consumer each time. One mechanism, so no duplicate consumers; unacked deliveries of the dead channel
    /// are redelivered by the broker (at-least-once: expect Redelivered duplicates), and acks of elements from the
    /// dead channel fail visibly instead of acking an unrelated tag on the new channel.
    public static Source<CommittableIncomingMessage, NotUsed> CommittableWithRestart(
        AmqpSourceSettings settings, RestartSettings restartSettings) =>
        RestartSource.OnFailuresWithBackoff(() => Committable(settings), restartSettings);
}

public static class AmqpFlow
{
    /// Publishes with publisher confirms, maxInFlight unconfirmed at once; emits one PublishResult per
    /// element, in input order. Fails only when the channel/connection closes (after emitting Failed
    /// for the publishes in flight).
    public static Flow<OutgoingMessage<TPass>, PublishResult<TPass>, NotUsed> WithConfirms<TPass>(
        AmqpSinkSettings settings, int maxInFlight) =>
        Flow.FromGraph(new ConfirmingPublishStage<TPass>(settings, maxInFlight));

    /// Same recovery choice as AmqpSource.CommittableWithRestart: a new connection and channel after each
    /// failure, with backoff. Publishes in flight at the failure report Failed; an element that was inside the
    /// restarting machinery at that instant can be lost without a result, so callers that must account for
    /// every element should track pass-through values they never got a result for.
    public static Flow<OutgoingMessage<TPass>, PublishResult<TPass>, NotUsed> WithConfirmsWithRestart<TPass>(
        AmqpSinkSettings settings, int maxInFlight, RestartSettings restartSettings) =>
        RestartFlow.OnFailuresWithBackoff(() => WithConfirms<TPass>(settings, maxInFlight), restartSettings);
}

public static class AmqpSink
{
    /// Publishes with confirms; the materialized task completes once every message is confirmed and fails
    /// on the first failed publish (or on connection loss).
    public static Sink<OutgoingMessage, Task<Done>> WithConfirms(AmqpSinkSettings settings, int maxInFlight) =>
        Flow.Create<OutgoingMessage>()
            .Select(m => m.WithPassThrough(NotUsed.Instance))
            .Via(AmqpFlow.WithConfirms<NotUsed>(settings, maxInFlight))
            .Select(r => r.IsConfirmed ? r : throw r.Error!)
            .ToMaterialized(Sink.Ignore<PublishResult<NotUsed>>(), Keep.Right);
}

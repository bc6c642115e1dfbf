using RabbitMQ.Client.Events;

namespace AkkaMail.Amqp;

/// The channel or connection under a stage closed (broker restart, network loss, channel error).
/// Stages fail with it so that a RestartSource/RestartFlow can start them again.
public sealed class AmqpChannelClosedException : Exception
{
    public AmqpChannelClosedException(ShutdownEventArgs reason)
        : base($"AMQP channel closed: {reason.ReplyCode} {reason.ReplyText} (initiator {reason.Initiator})", reason.Exception)
    {
        Reason = reason;
    }

    public ShutdownEventArgs Reason { get; }
}

/// The broker cancelled our consumer (queue deleted, quorum queue leader moved...).
public sealed class AmqpConsumerCancelledException(string queue, string consumerTag)
    : Exception($"The broker cancelled consumer '{consumerTag}' on queue '{queue}'");

/// Raised by Ack/Nack when the delivery tag was already settled through this source
/// (acked, nacked, or covered by an earlier multiple ack). Nothing was sent to the broker:
/// a second ack of one tag would close the channel with PRECONDITION_FAILED.
public sealed class AmqpDeliveryAlreadySettledException(ulong deliveryTag)
    : InvalidOperationException($"Delivery {deliveryTag} was already acknowledged or rejected");

/// A publish was not confirmed (nack, returned mandatory message, or the channel closed first).
public sealed class AmqpPublishFailedException(string message, Exception? inner)
    : Exception(message, inner);

using AkkaMail.Configuration;
using AkkaMail.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Sending;

public static class SendQueueRegistration
{
    /// <summary>
    /// The send queue chosen by <c>AkkaMail:Transport</c>: <c>inproc</c> (default) or <c>rabbitmq</c>
    /// (connection from <c>RabbitMq:Uri</c>, env <c>RabbitMq__Uri</c>; queue names and knobs from the block
    /// <c>akkamail.rabbitmq</c> of <paramref name="knobs"/>).
    /// </summary>
    public static IServiceCollection AddSendQueue(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, Akka.Configuration.Config knobs, IConfiguration configuration)
    {
        switch (options.Transport)
        {
            case SendTransport.InProc:
                services.AddSingleton<ISendQueue>(sp =>
                {
                    var queue = new InProcSendQueue(settings.DispatchBufferSize);
                    if (sp.GetService<Observability.AkkaMailMetrics>() is { } metrics) metrics.QueueDepth = () => queue.Depth;
                    return queue;
                });
                break;
            case SendTransport.RabbitMq:
                var rabbit = RabbitMqSendQueueSettings.FromConfig(knobs, configuration[AkkaMailConfiguration.RabbitMqUriKey]);
                services.AddSingleton(rabbit);
                services.AddSingleton<RabbitMqSendQueue>(sp => new RabbitMqSendQueue(rabbit,
                    sp.GetService<ILoggerFactory>()?.CreateLogger<RabbitMqSendQueue>(),
                    sp.GetService<TimeProvider>()));
                services.AddSingleton<ISendQueue>(sp => sp.GetRequiredService<RabbitMqSendQueue>());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Transport, "AkkaMail:Transport");
        }
        return services;
    }
}

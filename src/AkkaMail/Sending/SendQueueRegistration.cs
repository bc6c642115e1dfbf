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
    /// (connection from <c>RabbitMq:Uri</c>, env <c>RabbitMq__Uri</c>, default amqp://guest:guest@localhost:5672/;
    /// queue names and knobs from HOCON <c>akkamail.rabbitmq</c>).
    /// </summary>
    public static IServiceCollection AddSendQueue(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        switch (options.Transport.ToLowerInvariant())
        {
            case "inproc":
                services.AddSingleton<ISendQueue>(_ =>
                {
                    var queue = new InProcSendQueue(settings.DispatchBufferSize);
                    Observability.AkkaMailMetrics.QueueDepth = () => queue.Depth;
                    return queue;
                });
                break;
            case "rabbitmq":
                var rabbit = RabbitMqSendQueueSettings.FromConfig(LoadHocon(options), configuration["RabbitMq:Uri"]);
                services.AddSingleton(rabbit);
                services.AddSingleton<RabbitMqSendQueue>(sp => new RabbitMqSendQueue(rabbit,
                    sp.GetService<ILoggerFactory>()?.CreateLogger<RabbitMqSendQueue>(),
                    sp.GetService<TimeProvider>()));
                services.AddSingleton<ISendQueue>(sp => sp.GetRequiredService<RabbitMqSendQueue>());
                break;
            default:
                throw new InvalidOperationException($"Unknown AkkaMail:Transport '{options.Transport}' (inproc, rabbitmq)");
        }
        return services;
    }

    // The same HOCON the app loaded: the file, with the command line's overrides on top.
    private static Akka.Configuration.Config LoadHocon(AkkaMailOptions options)
    {
        var hocon = AkkaMailHosting.LoadHocon(options.ResolveHoconPath());
        return string.IsNullOrWhiteSpace(options.HoconOverrides)
            ? hocon
            : Akka.Configuration.ConfigurationFactory.ParseString(options.HoconOverrides).WithFallback(hocon);
    }
}

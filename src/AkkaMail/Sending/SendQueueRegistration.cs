using AkkaMail.Configuration;
using AkkaMail.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Sending;

public static class SendQueueRegistration
{
    /// <summary>The send queue chosen by <c>AkkaMail:Transport</c>: <c>inproc</c> (default).</summary>
    public static IServiceCollection AddSendQueue(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        switch (options.Transport.ToLowerInvariant())
        {
            case "inproc":
                services.AddSingleton<ISendQueue>(_ => new InProcSendQueue(settings.DispatchBufferSize));
                break;
            default:
                throw new InvalidOperationException($"Unknown AkkaMail:Transport '{options.Transport}' (inproc)");
        }
        return services;
    }
}

using AkkaMail.Configuration;
using AkkaMail.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Providers;

public static class ProviderRegistration
{
    /// <summary>The provider chosen by <c>AkkaMail:Provider</c>: <c>sandbox</c> (default).</summary>
    public static IServiceCollection AddEmailProvider(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        services.AddSingleton<ProviderEventRouter>();
        services.AddSingleton<IProviderEventIngress>(sp => sp.GetRequiredService<ProviderEventRouter>());
        switch (options.Provider.ToLowerInvariant())
        {
            case "sandbox":
                services.AddSingleton<IEmailProvider>(sp => new SandboxProvider(options.OutboxPath, settings.SandboxDeliveryDelay,
                    new Lazy<IProviderEventIngress>(sp.GetRequiredService<IProviderEventIngress>),
                    sp.GetRequiredService<ILogger<SandboxProvider>>()));
                break;
            default:
                throw new InvalidOperationException($"Unknown AkkaMail:Provider '{options.Provider}' (sandbox)");
        }
        return services;
    }
}

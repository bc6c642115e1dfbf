using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Providers;

public static class ProviderRegistration
{
    /// <summary>The embedded default provider (<c>AkkaMail:Provider=sandbox</c>): .eml files in the outbox, reports through
    /// the gateway. Other providers live in their own projects and register themselves the same way (the Mailgun
    /// provider: <c>AddMailgunProvider</c>); the composition root picks one.</summary>
    public static IServiceCollection AddSandboxProvider(this IServiceCollection services, AkkaMailOptions options, AkkaMailSettings settings)
    {
        services.AddEmailGateway();
        services.AddSingleton<IEmailProvider>(sp => new SandboxProvider(options.OutboxPath, settings.SandboxDeliveryDelay,
            sp.GetRequiredService<IEmailGateway>(), sp.GetRequiredService<ILogger<SandboxProvider>>()));
        return services;
    }
}

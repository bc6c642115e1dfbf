using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Hosting;
using AkkaMail.Mailgun;
using AkkaMail.ReadModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Providers;

public static class ProviderRegistration
{
    /// <summary>The provider chosen by <c>AkkaMail:Provider</c>: <c>sandbox</c> (default) or <c>mailgun</c>
    /// (settings from the <c>Mailgun</c> section: <c>Mailgun__ApiKey</c>, <c>Mailgun__Domain</c>, <c>Mailgun__BaseUrl</c>,
    /// <c>Mailgun__WebhookSigningKey</c>). Also registers Mailgun webhook verification whenever a signing key is configured.</summary>
    public static IServiceCollection AddEmailProvider(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        // Provider reports (webhooks, the sandbox) reach the email actors through the gateway.
        services.AddEmailGateway();
        switch (options.Provider)
        {
            case EmailProviderKind.Sandbox:
                services.AddSingleton<IEmailProvider>(sp => new SandboxProvider(options.OutboxPath, settings.SandboxDeliveryDelay,
                    sp.GetRequiredService<IEmailGateway>(),
                    sp.GetRequiredService<ILogger<SandboxProvider>>()));
                break;
            case EmailProviderKind.Mailgun:
                // The account settings were validated with the options (AkkaMailOptionsValidator), and are again on start.
                services.AddMailgunClient(configuration);
                // The typed client's handler is pooled and long-lived (PooledConnectionLifetime), so one client serves all sends.
                services.AddSingleton<IEmailProvider>(sp => new MailgunProvider(
                    sp.GetRequiredService<MailgunClient>(), sp.GetRequiredService<ILogger<MailgunProvider>>()));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Provider, "AkkaMail:Provider");
        }
        services.AddMailgunWebhooks(options, settings, configuration);
        return services;
    }

    /// <summary>Webhook verification (POST /api/webhooks/mailgun) with the HOCON timestamp tolerance and the store
    /// backend's replay guard (IWebhookTokenStore, registered with the stores); only when <c>Mailgun:WebhookSigningKey</c> is set (without it the endpoint answers 401).</summary>
    private static void AddMailgunWebhooks(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration.GetSection(MailgunOptions.SectionName)[nameof(MailgunOptions.WebhookSigningKey)]))
            return;
        services.AddMailgunWebhookVerifier(configuration, settings.WebhookTimestampTolerance);
    }
}

using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Hosting;
using AkkaMail.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Mailgun.Provider;

/// <summary>Mailgun as AkkaMail's provider, for the composition root: its settings check, the provider, the webhook processing.</summary>
public static class MailgunProviderRegistration
{
    /// <summary>With <c>AkkaMail:Provider=mailgun</c>, the <c>Mailgun</c> section must hold a usable account: each failure
    /// names its key and its environment variable ("Mailgun:ApiKey is required when AkkaMail:Provider is mailgun
    /// (environment Mailgun__ApiKey)"). A <see cref="SettingsCheck"/>.</summary>
    public static IEnumerable<string> CheckSettings(AkkaMailOptions options, IConfiguration configuration)
    {
        if (!options.Uses(EmailProviderKind.Mailgun)) return [];
        var failures = new List<string>();
        var mailgun = AkkaMailConfiguration.Bind<MailgunOptions>(configuration.GetSection(MailgunOptions.SectionName), failures);
        if (failures.Count == 0) failures.AddRange(mailgun.Validate());
        return failures.Select(f => f.Split(' ')[0] is var key && key.StartsWith(MailgunOptions.SectionName + ":", StringComparison.Ordinal)
            ? $"{f.TrimEnd('.')} when AkkaMail:Provider is mailgun (environment {key.Replace(":", "__")})"
            : $"{f} (AkkaMail:Provider is mailgun)");
    }

    /// <summary>Sends through Mailgun's HTTP API with the <c>Mailgun</c> section's account (<c>Mailgun__ApiKey</c>,
    /// <c>Mailgun__Domain</c>, <c>Mailgun__BaseUrl</c>), checked at start by <see cref="CheckSettings"/>.</summary>
    public static IServiceCollection AddMailgunProvider(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddMailgunClient(configuration);
        // The typed client's handler is pooled and long-lived (PooledConnectionLifetime), so one client serves all sends.
        services.AddSingleton<IEmailProvider>(sp => new MailgunProvider(
            sp.GetRequiredService<MailgunClient>(), sp.GetRequiredService<ILogger<MailgunProvider>>(), sp.GetService<TimeProvider>()));
        // Its events API, for the reconciliation job (which runs when a provider event history is registered).
        services.AddSingleton<IProviderEventHistory>(sp => new MailgunEventHistory(
            sp.GetRequiredService<MailgunClient>(), sp.GetRequiredService<ILogger<MailgunEventHistory>>()));
        return services;
    }

    /// <summary>Processing of Mailgun's webhooks (<see cref="MailgunWebhookProcessor"/>), whichever provider sends: verified
    /// with <c>Mailgun:WebhookSigningKey</c> and <paramref name="tolerance"/>, replays refused through the store backend's
    /// <see cref="IWebhookTokenStore"/>. Without a signing key every webhook is refused as unauthenticated.</summary>
    public static IServiceCollection AddMailgunWebhookProcessing(this IServiceCollection services, IConfiguration configuration, TimeSpan tolerance)
    {
        var hasKey = !string.IsNullOrWhiteSpace(configuration.GetSection(MailgunOptions.SectionName)[nameof(MailgunOptions.WebhookSigningKey)]);
        if (hasKey) services.AddMailgunWebhookVerifier(configuration, tolerance);
        services.AddEmailGateway();
        services.AddSingleton(sp => new MailgunWebhookProcessor(
            hasKey ? sp.GetRequiredService<MailgunWebhookVerifier>() : null,
            sp.GetRequiredService<IWebhookTokenStore>(),
            sp.GetRequiredService<IEmailGateway>(),
            sp.GetRequiredService<ILogger<MailgunWebhookProcessor>>()));
        return services;
    }
}

using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Hosting;
using AkkaMail.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Smtp.Provider;

/// <summary>SMTP as AkkaMail's provider, for the composition root: its settings check and the provider.</summary>
public static class SmtpProviderRegistration
{
    /// <summary>With <c>smtp</c> among the providers (<c>AkkaMail:Provider</c> or <c>AkkaMail:Route</c>), the <c>Smtp</c>
    /// section must name a usable server: each failure names its key and its environment variable. A <see cref="SettingsCheck"/>.</summary>
    public static IEnumerable<string> CheckSettings(AkkaMailOptions options, IConfiguration configuration)
    {
        if (!options.Uses(EmailProviderKind.Smtp)) return [];
        var failures = new List<string>();
        var smtp = AkkaMailConfiguration.Bind<SmtpOptions>(configuration.GetSection(SmtpOptions.SectionName), failures);
        if (failures.Count == 0) failures.AddRange(smtp.Validate());
        return failures.Select(f => f.Split(' ')[0] is var key && key.StartsWith(SmtpOptions.SectionName + ":", StringComparison.Ordinal)
            ? $"{f.TrimEnd('.')} when the smtp provider is used (environment {key.Replace(":", "__")})"
            : $"{f} (the smtp provider is used)");
    }

    /// <summary>Sends through the <c>Smtp</c> section's server (<c>Smtp__Host</c>, <c>Smtp__Port</c>, <c>Smtp__TlsMode</c>,
    /// <c>Smtp__Username</c>, <c>Smtp__Password</c>), checked at start by <see cref="CheckSettings"/>.</summary>
    public static IServiceCollection AddSmtpProvider(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddEmailGateway();
        services.AddSingleton(sp => new SmtpSender(
            AkkaMailConfiguration.Bind<SmtpOptions>(configuration.GetSection(SmtpOptions.SectionName), new List<string>()),
            sp.GetService<TimeProvider>()));
        services.AddSingleton<IEmailProvider>(sp => new SmtpProvider(
            sp.GetRequiredService<SmtpSender>(), sp.GetRequiredService<IEmailGateway>(), sp.GetRequiredService<ILogger<SmtpProvider>>()));
        return services;
    }
}

using AkkaMail.Providers;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AkkaMail.Mailgun;

public static class MailgunServiceCollectionExtensions
{
    /// <summary>Binds <see cref="MailgunOptions"/> from <paramref name="configuration"/>'s "Mailgun" section (validated when
    /// first resolved) and registers <see cref="MailgunClient"/> as a typed HttpClient with a pooled SocketsHttpHandler.
    /// The per-call timeout is <see cref="MailgunOptions.Timeout"/>, enforced by the client.</summary>
    public static IHttpClientBuilder AddMailgunClient(this IServiceCollection services, IConfiguration configuration, string sectionName = MailgunOptions.SectionName)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<MailgunOptions>().Bind(configuration.GetSection(sectionName));
        return services.AddMailgunClientCore();
    }

    /// <summary>Same as the configuration overload, with options set in code.</summary>
    public static IHttpClientBuilder AddMailgunClient(this IServiceCollection services, Action<MailgunOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<MailgunOptions>().Configure(configure);
        return services.AddMailgunClientCore();
    }

    /// <summary>Registers a singleton <see cref="MailgunWebhookVerifier"/> keyed with <see cref="MailgunOptions.WebhookSigningKey"/>
    /// (from the "Mailgun" section) and, unless one is already registered, the in-memory <see cref="IWebhookTokenStore"/>.
    /// Register a database-backed store before or after (it replaces the default only if added first; use services.Replace otherwise).</summary>
    public static IServiceCollection AddMailgunWebhookVerifier(this IServiceCollection services, IConfiguration configuration, TimeSpan? tolerance = null, string sectionName = MailgunOptions.SectionName)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<MailgunOptions>().Bind(configuration.GetSection(sectionName));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IWebhookTokenStore>(sp => new InMemoryWebhookTokenStore(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new MailgunWebhookVerifier(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<MailgunOptions>>().CurrentValue.WebhookSigningKey is { Length: > 0 } key
                ? key
                : throw new InvalidOperationException($"{sectionName}:WebhookSigningKey is required to verify Mailgun webhooks."),
            sp.GetRequiredService<TimeProvider>(),
            tolerance ?? MailgunWebhookVerifier.DefaultTolerance));
        return services;
    }

    private static IHttpClientBuilder AddMailgunClientCore(this IServiceCollection services)
    {
        // Each problem is reported with its key (Mailgun:ApiKey is required.), when the host starts or the client is first resolved.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MailgunOptions>, MailgunOptionsValidator>());
        services.AddOptions<MailgunOptions>().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        return services
            .AddHttpClient<MailgunClient>(http =>
            {
                // The client cancels each call after MailgunOptions.Timeout and reports it as a transient failure.
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
                ConnectTimeout = TimeSpan.FromSeconds(10),
                AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate,
                MaxConnectionsPerServer = 64,
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            // No request logging by the factory: its handlers open a log scope for every call and, at Information,
            // write four lines per send; callers log the outcome they get from the client.
            .RemoveAllLoggers();
    }
}

/// <summary>The checks of <see cref="MailgunOptions.Validate"/>, as options validation.</summary>
internal sealed class MailgunOptionsValidator : IValidateOptions<MailgunOptions>
{
    public ValidateOptionsResult Validate(string? name, MailgunOptions options) =>
        options.Validate() is { Count: > 0 } failures ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
}

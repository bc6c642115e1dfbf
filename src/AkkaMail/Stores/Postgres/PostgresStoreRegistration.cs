using AkkaMail.OutboundWebhooks;
using AkkaMail.Providers;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AkkaMail.Stores.Postgres;

public static class PostgresStoreRegistration
{
    /// <summary>
    /// The read model, projection offsets, users and API keys, suppressions, webhook tokens, templates and outbound
    /// webhook endpoints and deliveries in one PostgreSQL
    /// database (<paramref name="connectionString"/>, Npgsql's format): one pooled data source for the stores, every
    /// store as a singleton made by a factory, so that the container disposes them. Each store interface gets a plain
    /// registration (no TryAdd), so the last registration wins whatever else ran before: the in-memory webhook token
    /// store the Mailgun webhook registration adds with TryAdd never replaces this one. Nothing dials the server until a store is
    /// first used; the schema is created or updated by the first store initialized.
    /// </summary>
    public static IServiceCollection AddPostgresStores(this IServiceCollection services, string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        // A default clock for the token store: a clock added before, or after with AddSingleton (a test's fake), is the one resolved.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => new PostgresDatabase(connectionString));
        services.AddSingleton(sp => new PostgresEmailReadStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton<IEmailReadStore>(sp => sp.GetRequiredService<PostgresEmailReadStore>());
        services.AddSingleton<IEmailProjectionStore>(sp => sp.GetRequiredService<PostgresEmailReadStore>());
        services.AddSingleton<IUserStore>(sp => new PostgresUserStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton<ISuppressionStore>(sp => new PostgresSuppressionStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton<Erasure.IErasureStore>(sp => new PostgresErasureStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton(sp => new PostgresWebhookTokenStore(sp.GetRequiredService<PostgresDatabase>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IWebhookTokenStore>(sp => sp.GetRequiredService<PostgresWebhookTokenStore>());
        services.AddSingleton<ITemplateStore>(sp => new PostgresTemplateStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton(sp => new PostgresWebhookStore(sp.GetRequiredService<PostgresDatabase>()));
        services.AddSingleton<IWebhookEndpointStore>(sp => sp.GetRequiredService<PostgresWebhookStore>());
        services.AddSingleton<IWebhookDeliveryStore>(sp => sp.GetRequiredService<PostgresWebhookStore>());
        services.AddSingleton<Statistics.IStatisticsStore>(sp => new PostgresStatisticsStore(sp.GetRequiredService<PostgresDatabase>()));
        return services;
    }
}

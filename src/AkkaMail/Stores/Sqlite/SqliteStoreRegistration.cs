using AkkaMail.Providers;
using AkkaMail.OutboundWebhooks;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AkkaMail.Stores.Sqlite;

public static class SqliteStoreRegistration
{
    /// <summary>
    /// The read model, users, suppressions, webhook tokens, templates and outbound webhooks in one SQLite file (<paramref name="databasePath"/>),
    /// every store as a singleton made by a factory, so that the container disposes it. Each store interface gets a
    /// plain registration (no TryAdd), so the last registration wins whatever else ran before: the in-memory webhook
    /// token store the Mailgun webhook registration adds with TryAdd never replaces this one.
    /// </summary>
    public static IServiceCollection AddSqliteStores(this IServiceCollection services, string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        var db = new SqliteDatabase(databasePath);
        // A default clock for the token store: a clock added before, or after with AddSingleton (a test's fake), is the one resolved.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => new SqliteEmailReadStore(db));
        services.AddSingleton<IEmailReadStore>(sp => sp.GetRequiredService<SqliteEmailReadStore>());
        services.AddSingleton<IEmailProjectionStore>(sp => sp.GetRequiredService<SqliteEmailReadStore>());
        services.AddSingleton<IUserStore>(_ => new SqliteUserStore(db));
        services.AddSingleton<ISuppressionStore>(_ => new SqliteSuppressionStore(db));
        services.AddSingleton<Erasure.IErasureStore>(_ => new SqliteErasureStore(db));
        services.AddSingleton(sp => new SqliteWebhookTokenStore(db, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IWebhookTokenStore>(sp => sp.GetRequiredService<SqliteWebhookTokenStore>());
        services.AddSingleton<ITemplateStore>(_ => new SqliteTemplateStore(db));
        services.AddSingleton(_ => new SqliteWebhookStore(db));
        services.AddSingleton<IWebhookEndpointStore>(sp => sp.GetRequiredService<SqliteWebhookStore>());
        services.AddSingleton<IWebhookDeliveryStore>(sp => sp.GetRequiredService<SqliteWebhookStore>());
        services.AddSingleton<Statistics.IStatisticsStore>(_ => new SqliteStatisticsStore(db));
        return services;
    }
}

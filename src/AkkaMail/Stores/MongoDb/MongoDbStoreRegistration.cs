using AkkaMail.Providers;
using AkkaMail.OutboundWebhooks;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

public static class MongoDbStoreRegistration
{
    /// <summary>
    /// The read model, users, suppressions, webhook tokens, templates and outbound webhooks in one MongoDB database: one <see cref="IMongoClient"/>
    /// for the stores (the driver pools connections inside it), the stores as singletons. Each store interface gets
    /// a plain registration (no TryAdd), so the last registration wins whatever else ran before: the in-memory webhook
    /// token store the Mailgun webhook registration adds with TryAdd never replaces this one. Nothing dials the server until a
    /// store is first used.
    /// </summary>
    public static IServiceCollection AddMongoDbStores(this IServiceCollection services, string connectionString, string database)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        // A default clock for the token store: a clock added before, or after with AddSingleton (a test's fake), is the one resolved.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IMongoClient>(_ => new MongoClient(connectionString));
        services.AddSingleton(sp => sp.GetRequiredService<IMongoClient>().GetDatabase(database));
        services.AddSingleton(sp => new MongoEmailReadStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<IEmailReadStore>(sp => sp.GetRequiredService<MongoEmailReadStore>());
        services.AddSingleton<IEmailProjectionStore>(sp => sp.GetRequiredService<MongoEmailReadStore>());
        services.AddSingleton<IUserStore>(sp => new MongoUserStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<ISuppressionStore>(sp => new MongoSuppressionStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<Erasure.IErasureStore>(sp => new MongoErasureStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton(sp => new MongoWebhookTokenStore(sp.GetRequiredService<IMongoDatabase>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IWebhookTokenStore>(sp => sp.GetRequiredService<MongoWebhookTokenStore>());
        services.AddSingleton<ITemplateStore>(sp => new MongoTemplateStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton(sp => new MongoWebhookStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<IWebhookEndpointStore>(sp => sp.GetRequiredService<MongoWebhookStore>());
        services.AddSingleton<IWebhookDeliveryStore>(sp => sp.GetRequiredService<MongoWebhookStore>());
        services.AddSingleton<Statistics.IStatisticsStore>(sp => new MongoStatisticsStore(sp.GetRequiredService<IMongoDatabase>()));
        return services;
    }
}

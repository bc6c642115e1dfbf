using AkkaMail.Mailgun;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using AkkaMail.Users;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

public static class MongoDbStoreRegistration
{
    /// <summary>
    /// The read model, users, suppressions and webhook tokens in one MongoDB database: one <see cref="IMongoClient"/>
    /// for the stores (the driver pools connections inside it), the four stores as singletons.
    /// </summary>
    public static IServiceCollection AddMongoDbStores(this IServiceCollection services, string connectionString, string database)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IMongoClient>(_ => new MongoClient(connectionString));
        services.AddSingleton(sp => sp.GetRequiredService<IMongoClient>().GetDatabase(database));
        services.AddSingleton<IEmailReadStore>(sp => new MongoEmailReadStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<IUserStore>(sp => new MongoUserStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton<ISuppressionStore>(sp => new MongoSuppressionStore(sp.GetRequiredService<IMongoDatabase>()));
        services.AddSingleton(sp => new MongoWebhookTokenStore(sp.GetRequiredService<IMongoDatabase>(), sp.GetRequiredService<TimeProvider>()));
        // Registered before the Mailgun webhooks' TryAdd of the SQLite/in-memory default, so this one is used.
        services.AddSingleton<IWebhookTokenStore>(sp => sp.GetRequiredService<MongoWebhookTokenStore>());
        return services;
    }
}

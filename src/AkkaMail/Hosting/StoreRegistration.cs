using Akka.Hosting;
using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Persistence.MongoDb;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Stores.MongoDb;
using AkkaMail.Suppressions;
using AkkaMail.Users;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

using Akka.Persistence.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkkaMail.Hosting;

/// <summary>
/// The storage backend, chosen by <c>AkkaMail:Store</c>: <c>sqlite</c> (default: files under AkkaMail:DataPath) or
/// <c>mongodb</c> (connection string <c>ConnectionStrings:MongoDb</c>, database <c>AkkaMail:MongoDatabase</c>).
/// One choice covers both the Akka.Persistence journal/snapshots and the stores (read model, users, suppressions,
/// webhook tokens).
/// </summary>
public static class StoreRegistration
{
    public const string ConnectionStringName = AkkaMailConfiguration.MongoConnectionStringName;

    /// <summary>Registers the read model, user, suppression (and, for MongoDB, webhook token) stores.</summary>
    public static IServiceCollection AddStores(this IServiceCollection services, AkkaMailOptions options, IConfiguration configuration)
    {
        if (IsMongoDb(options))
            services.AddMongoDbStores(MongoConnectionString(configuration), options.MongoDatabase);
        else
        {
            var readDb = new SqliteDatabase(options.ReadModelPath);
            // A factory, so that the container disposes it (it keeps a connection open for its writes).
            services.AddSingleton<IEmailReadStore>(_ => new SqliteEmailReadStore(readDb));
            services.AddSingleton<IUserStore>(new SqliteUserStore(readDb));
            services.AddSingleton<ISuppressionStore>(new SqliteSuppressionStore(readDb));
            // The SQLite webhook token store is registered with the Mailgun webhooks (ProviderRegistration).
        }
        // The read model's backend is written by the read-side projection; the API reads it through a decorator that
        // never answers older than the journal (JournalConsistentEmailReadStore).
        var readBackend = services.Last(d => d.ServiceType == typeof(IEmailReadStore));
        services.Remove(readBackend);
        services.AddSingleton(sp => new EmailReadStoreBackend(
            (IEmailReadStore)Resolve(readBackend, sp)));
        services.AddSingleton<IEmailProjectionStore>(sp => (IEmailProjectionStore)sp.GetRequiredService<EmailReadStoreBackend>().Store);
        services.AddSingleton(sp => new ProjectionProgress(ReadModel.EmailReadSideProjection.Name, sp.GetService<TimeProvider>()));
        services.AddSingleton<JournalHead>();
        services.AddSingleton<IEmailReadStore>(sp =>
        {
            var settings = sp.GetService<AkkaMailSettings>() ?? new AkkaMailSettings();
            return new JournalConsistentEmailReadStore(
                sp.GetRequiredService<EmailReadStoreBackend>().Store,
                sp.GetRequiredService<ProjectionProgress>(),
                sp.GetRequiredService<JournalHead>(),
                // At call time: the gateway reads through this store (provider message ids), so it cannot be built first.
                (id, ct) => sp.GetService<IEmailGateway>() is { } gateway
                    ? gateway.GetStateAsync(id, ct)
                    : Task.FromResult<EmailStateResult>(new EmailStateResult.Unavailable(id)),
                settings.ReadSideCatchUpWait);
        });

        // Whatever the backend, API-key lookups are cached briefly (revocation forgets them at once).
        var backend = services.Last(d => d.ServiceType == typeof(IUserStore));
        services.Remove(backend);
        services.AddSingleton<IUserStore>(sp => new CachingUserStore(
            (IUserStore)Resolve(backend, sp),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }

    /// <summary>The service a backend registered (an instance or a factory), for a decorator that replaced its registration.</summary>
    private static object Resolve(ServiceDescriptor registered, IServiceProvider sp) =>
        registered.ImplementationInstance ?? registered.ImplementationFactory!(sp);

    /// <summary>The read model's storage (SQLite or MongoDB), as registered by the backend.</summary>
    public sealed record EmailReadStoreBackend(IEmailReadStore Store);

    /// <summary>The journal and snapshot store on the same backend as the stores.</summary>
    public static AkkaConfigurationBuilder WithPersistenceBackend(this AkkaConfigurationBuilder akka, AkkaMailOptions options, IConfiguration configuration) =>
        IsMongoDb(options)
            ? akka.WithMongoDbPersistence(MongoConnectionString(configuration), options.MongoDatabase,
                journal: j => j.WithHealthCheck(HealthStatus.Unhealthy, HealthTags.JournalCheck, HealthTags.Readiness),
                snapshot: s => s.WithHealthCheck(HealthStatus.Unhealthy, HealthTags.SnapshotStoreCheck, HealthTags.Readiness))
            : akka.WithSqlitePersistence(options.JournalPath);

    public static bool IsMongoDb(AkkaMailOptions options) => options.Store == StoreKind.MongoDb;

    /// <summary>ConnectionStrings:MongoDb (required with <c>mongodb</c>: <see cref="AkkaMailOptionsValidator"/> checks it at start).</summary>
    public static string MongoConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } cs
            ? cs
            : throw new Microsoft.Extensions.Options.OptionsValidationException(ConnectionStringName, typeof(AkkaMailOptions),
                ["ConnectionStrings:MongoDb is required when AkkaMail:Store is mongodb " +
                 "(environment ConnectionStrings__MongoDb=mongodb://host:27017/?replicaSet=rs0)"]);
}

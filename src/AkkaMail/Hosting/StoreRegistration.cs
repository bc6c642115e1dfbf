using Akka.Hosting;
using AkkaMail.Configuration;
using AkkaMail.Gateway;
using AkkaMail.Persistence.MongoDb;
using AkkaMail.Persistence.Postgres;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Stores.MongoDb;
using AkkaMail.Stores.Postgres;
using AkkaMail.Stores.Sqlite;
using AkkaMail.Suppressions;
using AkkaMail.Users;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;


namespace AkkaMail.Hosting;

/// <summary>
/// The storage backend, chosen by <c>AkkaMail:Store</c>: <c>sqlite</c> (default: files under AkkaMail:DataPath),
/// <c>mongodb</c> (connection string <c>ConnectionStrings:MongoDb</c>, database <c>AkkaMail:MongoDatabase</c>) or
/// <c>postgres</c> (connection string <c>ConnectionStrings:Postgres</c>; journal through Akka.Persistence.Sql).
/// One choice covers both the Akka.Persistence journal/snapshots and the stores (read model, users, suppressions,
/// webhook tokens).
/// </summary>
public static class StoreRegistration
{
    public const string ConnectionStringName = AkkaMailConfiguration.MongoConnectionStringName;

    /// <summary>Registers every store of the chosen backend (read model, users, suppressions, webhook tokens), then
    /// the backend-neutral decorators: the API reads emails through <see cref="JournalConsistentEmailReadStore"/>, and
    /// API-key lookups go through <see cref="CachingUserStore"/>.</summary>
    public static IServiceCollection AddStores(this IServiceCollection services, AkkaMailOptions options, IConfiguration configuration)
    {
        switch (options.Store)
        {
            case StoreKind.MongoDb:
                services.AddMongoDbStores(MongoConnectionString(configuration), options.MongoDatabase);
                break;
            case StoreKind.Sqlite:
                services.AddSqliteStores(options.ReadModelPath);
                break;
            case StoreKind.Postgres:
                services.AddPostgresStores(PostgresConnectionString(configuration));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Store, "AkkaMail:Store");
        }

        // The read model's backend is written by the read-side projection; the API reads it through a decorator that
        // never answers older than the journal (JournalConsistentEmailReadStore).
        var readBackend = Undecorated<IEmailReadStore>(services);
        services.AddSingleton(sp => new EmailReadStoreBackend((IEmailReadStore)Resolve(readBackend, sp)));
        services.AddSingleton(sp => new ProjectionProgress(ReadModel.EmailReadSideProjection.Name, sp.GetService<TimeProvider>()));
        services.AddSingleton<JournalHead>();
        services.AddSingleton<Actors.RetentionProgress>();
        // The storage figures: every backend's read store measures them (IEmailStorageStore), the host adds its files.
        services.AddSingleton(sp => new StorageFiguresCache(
            (IEmailStorageStore)sp.GetRequiredService<EmailReadStoreBackend>().Store,
            () => AkkaMailHosting.StorageBytes(options).Select(p => new DiskPart(p.Part, p.Bytes)).ToList(),
            (sp.GetService<AkkaMailSettings>() ?? new AkkaMailSettings()).StorageFiguresMaxAge,
            sp.GetService<TimeProvider>()));
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
        var userBackend = Undecorated<IUserStore>(services);
        services.AddSingleton<IUserStore>(sp => new CachingUserStore(
            (IUserStore)Resolve(userBackend, sp),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }

    /// <summary>Takes out the backend's one registration of <typeparamref name="TService"/>, for a decorator to wrap.
    /// Exactly one: a second registration would mean two backends, or a decorator applied twice.</summary>
    private static ServiceDescriptor Undecorated<TService>(IServiceCollection services)
    {
        var registered = services.Single(d => d.ServiceType == typeof(TService));
        services.Remove(registered);
        return registered;
    }

    /// <summary>The service a backend registered (an instance, a factory or a type), for a decorator that replaced its registration.</summary>
    private static object Resolve(ServiceDescriptor registered, IServiceProvider sp) =>
        registered.ImplementationInstance
        ?? registered.ImplementationFactory?.Invoke(sp)
        ?? ActivatorUtilities.CreateInstance(sp, registered.ImplementationType!);

    /// <summary>The read model's storage (SQLite, MongoDB or PostgreSQL), as registered by the backend.</summary>
    public sealed record EmailReadStoreBackend(IEmailReadStore Store);

    /// <summary>The journal and snapshot store on the same backend as the stores.</summary>
    public static AkkaConfigurationBuilder WithPersistenceBackend(this AkkaConfigurationBuilder akka, AkkaMailOptions options, IConfiguration configuration) =>
        options.Store switch
        {
            StoreKind.MongoDb => akka.WithMongoDbPersistence(MongoConnectionString(configuration), options.MongoDatabase,
                journal: ServiceHealth.JournalCheck, snapshot: ServiceHealth.SnapshotStoreCheck),
            StoreKind.Postgres => akka.WithPostgresPersistence(PostgresConnectionString(configuration),
                journal: ServiceHealth.JournalCheck, snapshot: ServiceHealth.SnapshotStoreCheck),
            _ => akka.WithSqlitePersistence(options.JournalPath),
        };

    public static bool IsMongoDb(AkkaMailOptions options) => options.Store == StoreKind.MongoDb;

    /// <summary>ConnectionStrings:Postgres (required and checked at start with <c>postgres</c>: <see cref="AkkaMailOptionsValidator"/>).</summary>
    public static string PostgresConnectionString(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(AkkaMailConfiguration.PostgresConnectionStringName);
        return AkkaMailOptionsValidator.PostgresConnectionStringProblem(connectionString) is { } problem
            ? throw new Microsoft.Extensions.Options.OptionsValidationException(
                "ConnectionStrings:" + AkkaMailConfiguration.PostgresConnectionStringName, typeof(AkkaMailOptions), [problem])
            : connectionString!;
    }

    /// <summary>ConnectionStrings:MongoDb (required with <c>mongodb</c>: <see cref="AkkaMailOptionsValidator"/> checks it at start).</summary>
    public static string MongoConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } cs
            ? cs
            : throw new Microsoft.Extensions.Options.OptionsValidationException(ConnectionStringName, typeof(AkkaMailOptions),
                ["ConnectionStrings:MongoDb is required when AkkaMail:Store is mongodb " +
                 "(environment ConnectionStrings__MongoDb=mongodb://host:27017/?replicaSet=rs0)"]);
}

using AkkaMail.Providers;
using AkkaMail.Hosting;
using AkkaMail.Mailgun;
using AkkaMail.ReadModel;
using AkkaMail.Stores.MongoDb;
using AkkaMail.Stores.Postgres;
using AkkaMail.Stores.Sqlite;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>
/// Each backend's registration resolves every store interface to that backend's type, with the backend-neutral
/// decorators on top, whatever ran before or after it (the Mailgun webhooks' TryAdd of an in-memory token store).
/// MongoDB and PostgreSQL are resolved without a server: nothing dials it before a store is used.
/// </summary>
public sealed class StoreRegistrationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"akkamail-stores-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<StoreKind> Backends => new() { StoreKind.Sqlite, StoreKind.MongoDb, StoreKind.Postgres };

    private AkkaMailOptions Options(StoreKind store) => new() { Store = store, DataPath = _dir, MongoDatabase = "mail" };

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();

    private static readonly IConfiguration Configuration = Config(
        ("ConnectionStrings:MongoDb", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100"),
        ("ConnectionStrings:Postgres", NowherePostgres),
        ("Mailgun:WebhookSigningKey", "key"));

    private const string NowherePostgres = "Host=127.0.0.1;Port=1;Username=nobody;Password=none;Timeout=1";

    private static (Type ReadStore, Type UserStore, Type SuppressionStore, Type WebhookTokenStore) Expected(StoreKind store) => store switch
    {
        StoreKind.MongoDb => (typeof(MongoEmailReadStore), typeof(MongoUserStore), typeof(MongoSuppressionStore), typeof(MongoWebhookTokenStore)),
        StoreKind.Postgres => (typeof(PostgresEmailReadStore), typeof(PostgresUserStore), typeof(PostgresSuppressionStore), typeof(PostgresWebhookTokenStore)),
        _ => (typeof(SqliteEmailReadStore), typeof(SqliteUserStore), typeof(SqliteSuppressionStore), typeof(SqliteWebhookTokenStore)),
    };

    [Theory, MemberData(nameof(Backends))]
    public void Every_store_interface_resolves_to_the_chosen_backend_under_its_decorators(StoreKind store)
    {
        var services = new ServiceCollection().AddStores(Options(store), Configuration);
        using var sp = services.BuildServiceProvider();
        var expected = Expected(store);

        var backend = sp.GetRequiredService<StoreRegistration.EmailReadStoreBackend>().Store;
        Assert.IsType(expected.ReadStore, backend);
        Assert.IsType<JournalConsistentEmailReadStore>(sp.GetRequiredService<IEmailReadStore>());
        // The projection writes the very store the API reads through the decorator.
        Assert.Same(backend, sp.GetRequiredService<IEmailProjectionStore>());
        Assert.IsType(expected.UserStore, Assert.IsType<CachingUserStore>(sp.GetRequiredService<IUserStore>()).Inner);
        Assert.IsType(expected.SuppressionStore, sp.GetRequiredService<ISuppressionStore>());
        Assert.IsType(expected.WebhookTokenStore, sp.GetRequiredService<IWebhookTokenStore>());
        var (templateStore, webhookStore) = store switch
        {
            StoreKind.MongoDb => (typeof(MongoTemplateStore), typeof(MongoWebhookStore)),
            StoreKind.Postgres => (typeof(PostgresTemplateStore), typeof(PostgresWebhookStore)),
            _ => (typeof(SqliteTemplateStore), typeof(SqliteWebhookStore)),
        };
        Assert.IsType(templateStore, sp.GetRequiredService<ITemplateStore>());
        Assert.IsType(webhookStore, sp.GetRequiredService<AkkaMail.OutboundWebhooks.IWebhookEndpointStore>());
        Assert.Same(sp.GetRequiredService<AkkaMail.OutboundWebhooks.IWebhookEndpointStore>(),
            sp.GetRequiredService<AkkaMail.OutboundWebhooks.IWebhookDeliveryStore>());
        Assert.IsType(store switch
        {
            StoreKind.MongoDb => typeof(MongoStatisticsStore),
            StoreKind.Postgres => typeof(PostgresStatisticsStore),
            _ => typeof(SqliteStatisticsStore),
        }, sp.GetRequiredService<AkkaMail.Statistics.IStatisticsStore>());
        // One registration per store interface: none shadowed by a leftover of the other backend or a default.
        foreach (var service in new[] { typeof(IEmailReadStore), typeof(IEmailProjectionStore), typeof(IUserStore),
                     typeof(ISuppressionStore), typeof(IWebhookTokenStore), typeof(ITemplateStore), typeof(StoreRegistration.EmailReadStoreBackend),
                     typeof(AkkaMail.OutboundWebhooks.IWebhookEndpointStore), typeof(AkkaMail.OutboundWebhooks.IWebhookDeliveryStore),
                     typeof(AkkaMail.Statistics.IStatisticsStore) })
            Assert.Single(services, d => d.ServiceType == service);
        Assert.False(Directory.Exists(_dir)); // nothing is created before initialization
    }

    [Theory, MemberData(nameof(Backends))]
    public void The_webhook_token_store_is_the_backend_s_whether_the_mailgun_webhooks_are_registered_before_or_after(StoreKind store)
    {
        var storesFirst = new ServiceCollection().AddStores(Options(store), Configuration)
            .AddMailgunWebhookVerifier(Configuration);
        var webhooksFirst = new ServiceCollection().AddMailgunWebhookVerifier(Configuration)
            .AddStores(Options(store), Configuration);
        foreach (var services in new[] { storesFirst, webhooksFirst })
        {
            using var sp = services.BuildServiceProvider();
            Assert.IsType(Expected(store).WebhookTokenStore, sp.GetRequiredService<IWebhookTokenStore>());
        }
    }

    [Fact]
    public void Each_backend_registration_alone_registers_every_store_of_its_backend()
    {
        using (var sqlite = new ServiceCollection().AddSqliteStores(Path.Combine(_dir, "read.db")).BuildServiceProvider())
            AssertStores(sqlite, Expected(StoreKind.Sqlite));
        using (var mongo = new ServiceCollection().AddMongoDbStores("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100", "mail")
                   .BuildServiceProvider())
        {
            AssertStores(mongo, Expected(StoreKind.MongoDb));
            Assert.Equal("mail", mongo.GetRequiredService<MongoDB.Driver.IMongoDatabase>().DatabaseNamespace.DatabaseName);
        }
        using (var postgres = new ServiceCollection().AddPostgresStores(NowherePostgres).BuildServiceProvider())
            AssertStores(postgres, Expected(StoreKind.Postgres));

        static void AssertStores(IServiceProvider sp, (Type ReadStore, Type UserStore, Type SuppressionStore, Type WebhookTokenStore) expected)
        {
            var read = sp.GetRequiredService<IEmailReadStore>();
            Assert.IsType(expected.ReadStore, read);
            Assert.Same(read, sp.GetRequiredService<IEmailProjectionStore>());
            Assert.IsType(expected.UserStore, sp.GetRequiredService<IUserStore>());
            Assert.IsType(expected.SuppressionStore, sp.GetRequiredService<ISuppressionStore>());
            Assert.IsType(expected.WebhookTokenStore, sp.GetRequiredService<IWebhookTokenStore>());
        }
    }

    [Fact]
    public void Sqlite_is_the_default()
    {
        Assert.False(StoreRegistration.IsMongoDb(new AkkaMailOptions()));
        using var sp = new ServiceCollection().AddStores(new AkkaMailOptions { DataPath = _dir }, Config()).BuildServiceProvider();
        Assert.IsType<SqliteEmailReadStore>(sp.GetRequiredService<StoreRegistration.EmailReadStoreBackend>().Store);
    }
}

using AkkaMail.Providers;
using AkkaMail.Mailgun;
using AkkaMail.OutboundWebhooks;
using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;
using AkkaMail.Stores.MongoDb;
using AkkaMail.Stores.Postgres;
using AkkaMail.Tests.Postgres;
using AkkaMail.Suppressions;
using AkkaMail.Templates;
using AkkaMail.Users;
using Microsoft.Data.Sqlite;
using MongoDB.Driver;

namespace AkkaMail.Stores.Tests;

/// <summary>
/// One backend for one test class. Every call gives a fresh, empty database, so each test starts clean;
/// everything the class created is deleted when it ends.
/// </summary>
public interface IStoreBackend : IDisposable
{
    bool IsAvailable { get; }
    string SkipReason { get; }
    IEmailReadStore NewEmailReadStore();
    IUserStore NewUserStore();
    ISuppressionStore NewSuppressionStore();
    IWebhookTokenStore NewWebhookTokenStore(TimeProvider clock);
    ITemplateStore NewTemplateStore();
    /// <summary>Outbound webhook endpoints and deliveries (one object serves both); null where a backend has none yet.</summary>
    (IWebhookEndpointStore Endpoints, IWebhookDeliveryStore Deliveries)? NewWebhookStores() => null;
    AkkaMail.Erasure.IErasureStore NewErasureStore();
    AkkaMail.Statistics.IStatisticsStore? NewStatisticsStore() => null;
}

/// <summary>SQLite: a temp folder per test class (a file per test inside), deleted afterwards.</summary>
public sealed class SqliteBackend : IStoreBackend
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"akkamail-stores-{Guid.NewGuid():N}");
    private int _n;

    public SqliteBackend() => Directory.CreateDirectory(_dir);

    public bool IsAvailable => true;
    public string SkipReason => "";

    private SqliteDatabase NewDatabase() => new(Path.Combine(_dir, $"db-{Interlocked.Increment(ref _n)}.db"));

    private readonly List<IDisposable> _stores = new();

    public IEmailReadStore NewEmailReadStore()
    {
        var store = new SqliteEmailReadStore(NewDatabase());
        lock (_stores) _stores.Add(store);
        return store;
    }

    public IUserStore NewUserStore() => new SqliteUserStore(NewDatabase());
    public ISuppressionStore NewSuppressionStore() => new SqliteSuppressionStore(NewDatabase());
    public IWebhookTokenStore NewWebhookTokenStore(TimeProvider clock) => new SqliteWebhookTokenStore(NewDatabase(), clock);
    public ITemplateStore NewTemplateStore() => new SqliteTemplateStore(NewDatabase());
    public AkkaMail.Erasure.IErasureStore NewErasureStore() => new SqliteErasureStore(NewDatabase());
    public AkkaMail.Statistics.IStatisticsStore NewStatisticsStore() => new SqliteStatisticsStore(NewDatabase());

    public (IWebhookEndpointStore, IWebhookDeliveryStore)? NewWebhookStores()
    {
        var store = new SqliteWebhookStore(NewDatabase());
        return (store, store);
    }

    public void Dispose()
    {
        lock (_stores) _stores.ForEach(s => s.Dispose());
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { /* best effort */ }
    }
}

/// <summary>
/// MongoDB, when <c>AKKAMAIL_TEST_MONGODB</c> holds a connection string: uniquely named databases (prefix per test
/// class), all dropped afterwards. Without it every test is reported skipped with <see cref="SkipReason"/>.
/// </summary>
public sealed class MongoDbBackend : IStoreBackend
{
    public const string EnvironmentVariable = "AKKAMAIL_TEST_MONGODB";

    private readonly string? _connectionString =
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } cs ? cs : null;
    private readonly string _prefix = $"akkamail_stores_{Guid.NewGuid():N}"[..30];
    private readonly List<string> _databases = new();
    private MongoClient? _client;

    public bool IsAvailable => _connectionString is not null;

    public string SkipReason =>
        $"MongoDB store contract skipped: {EnvironmentVariable} is not set (set it to a MongoDB connection string to run it).";

    private IMongoDatabase NewDatabase()
    {
        _client ??= new MongoClient(_connectionString ?? throw new InvalidOperationException(SkipReason));
        string name;
        lock (_databases)
        {
            name = $"{_prefix}_{_databases.Count}";
            _databases.Add(name);
        }
        return _client.GetDatabase(name);
    }

    public IEmailReadStore NewEmailReadStore() => new MongoEmailReadStore(NewDatabase());
    public IUserStore NewUserStore() => new MongoUserStore(NewDatabase());
    public ISuppressionStore NewSuppressionStore() => new MongoSuppressionStore(NewDatabase());
    public IWebhookTokenStore NewWebhookTokenStore(TimeProvider clock) => new MongoWebhookTokenStore(NewDatabase(), clock);
    public ITemplateStore NewTemplateStore() => new MongoTemplateStore(NewDatabase());
    public AkkaMail.Erasure.IErasureStore NewErasureStore() => new MongoErasureStore(NewDatabase());
    public AkkaMail.Statistics.IStatisticsStore NewStatisticsStore() => new MongoStatisticsStore(NewDatabase());

    public (IWebhookEndpointStore, IWebhookDeliveryStore)? NewWebhookStores()
    {
        var store = new MongoWebhookStore(NewDatabase());
        return (store, store);
    }

    public void Dispose()
    {
        if (_client is null) return;
        foreach (var db in _databases) _client.DropDatabase(db);
        _client.Dispose();
    }
}


/// <summary>
/// PostgreSQL (always: the test command starts it): one database per test class, a schema per store inside it (the
/// store's connection sets it as its search path), all dropped afterwards.
/// </summary>
public sealed class PostgresBackend : IStoreBackend
{
    private readonly Lazy<PostgresTestDatabase> _database = new(() => new PostgresTestDatabase("akkamail_stores"));
    private readonly List<PostgresDatabase> _stores = new();
    private int _n;

    public bool IsAvailable => true;
    public string SkipReason => "";

    private PostgresDatabase NewDatabase()
    {
        var schema = $"s{Interlocked.Increment(ref _n)}";
        using (var connection = new Npgsql.NpgsqlConnection(_database.Value.ConnectionString))
        {
            connection.Open();
            using var create = new Npgsql.NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            create.ExecuteNonQuery();
        }
        var db = new PostgresDatabase(new Npgsql.NpgsqlConnectionStringBuilder(_database.Value.ConnectionString) { SearchPath = schema }.ConnectionString);
        lock (_stores) _stores.Add(db);
        return db;
    }

    public IEmailReadStore NewEmailReadStore() => new PostgresEmailReadStore(NewDatabase());
    public IUserStore NewUserStore() => new PostgresUserStore(NewDatabase());
    public ISuppressionStore NewSuppressionStore() => new PostgresSuppressionStore(NewDatabase());
    public IWebhookTokenStore NewWebhookTokenStore(TimeProvider clock) => new PostgresWebhookTokenStore(NewDatabase(), clock);
    public ITemplateStore NewTemplateStore() => new PostgresTemplateStore(NewDatabase());
    public AkkaMail.Erasure.IErasureStore NewErasureStore() => new PostgresErasureStore(NewDatabase());
    public AkkaMail.Statistics.IStatisticsStore NewStatisticsStore() => new PostgresStatisticsStore(NewDatabase());

    public (IWebhookEndpointStore, IWebhookDeliveryStore)? NewWebhookStores()
    {
        var store = new PostgresWebhookStore(NewDatabase());
        return (store, store);
    }

    public void Dispose()
    {
        lock (_stores) _stores.ForEach(s => s.Dispose());
        if (_database.IsValueCreated) _database.Value.Dispose();
    }
}

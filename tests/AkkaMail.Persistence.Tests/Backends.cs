using Akka.Configuration;
using AkkaMail.Persistence.MongoDb;
using AkkaMail.Persistence.Postgres;
using AkkaMail.Tests.Postgres;
using AkkaMail.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using MongoDB.Driver;

namespace AkkaMail.Persistence.Tests;

/// <summary>A temp-file SQLite database for one test class on our own plugins (AkkaMail.Persistence.Sqlite), deleted afterwards.</summary>
public sealed class SqliteDatabaseFixture : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(
        System.IO.Path.GetTempPath(), $"akkamail-sqlite-{Guid.NewGuid():N}.db");

    public string ConnectionString => $"Data Source={Path}";

    /// <summary>Our SQLite journal and snapshot store as the default plugins, tables created at start.</summary>
    public Config Hocon => SqlitePersistenceConfig.Create(ConnectionString);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            try { File.Delete(Path + suffix); }
            catch (IOException) { /* best effort */ }
        }
    }
}

/// <summary>
/// A uniquely named MongoDB database for one test class, dropped afterwards; available only when
/// <c>AKKAMAIL_TEST_MONGODB</c> holds a connection string.
/// </summary>
public sealed class MongoDbDatabaseFixture : IDisposable
{
    public const string EnvironmentVariable = "AKKAMAIL_TEST_MONGODB";

    public const string SkipReason =
        $"MongoDB contract skipped: {EnvironmentVariable} is not set (set it to a MongoDB connection string to run it).";

    public string? ConnectionString { get; } =
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } cs ? cs : null;

    public string Database { get; } = $"akkamail_test_{Guid.NewGuid():N}";

    public bool IsAvailable => ConnectionString is not null;

    /// <summary>
    /// The plugins' HOCON. Without a server the connection string points nowhere; the tests skip before any
    /// plugin actor is created, so it is never dialled.
    /// </summary>
    public Config Hocon => MongoDbPersistenceConfig.Create(
        ConnectionString ?? "mongodb://127.0.0.1:1", Database, autoInitialize: true, isDefaultPlugin: true);

    public void Dispose()
    {
        if (ConnectionString is null) return;
        new MongoClient(ConnectionString).DropDatabase(Database);
    }
}

/// <summary>A PostgreSQL database of its own for one test class (or test), on Akka.Persistence.Sql with our additions
/// (AkkaMail.Persistence.Postgres), dropped afterwards. Always available: the test command starts the server.</summary>
public sealed class PostgresDatabaseFixture : IDisposable
{
    private readonly PostgresTestDatabase _database = new("akkamail_persistence");

    public string ConnectionString => _database.ConnectionString;

    /// <summary>The journal, snapshot store and query journal as the default plugins, tables created at start.</summary>
    public Config Hocon => PostgresPersistenceConfig.Create(ConnectionString);

    public void Dispose() => _database.Dispose();
}

using Akka.Persistence.Query;
using AkkaMail.Persistence.MongoDb;
using AkkaMail.Persistence.Postgres;
using AkkaMail.Persistence.Sqlite;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>The read journal contract on SQLite, a database file per test (removed after it).</summary>
public sealed class SqliteReadJournalContract : ReadJournalContract
{
    private readonly SqliteDatabaseFixture _db;

    public SqliteReadJournalContract(ITestOutputHelper output) : this(new SqliteDatabaseFixture(), output)
    {
    }

    private SqliteReadJournalContract(SqliteDatabaseFixture db, ITestOutputHelper output)
        : base(db.Hocon, SqliteReadJournal.Identifier, output) => _db = db;

    protected override IReadJournal ReadJournal =>
        PersistenceQuery.Get(Sys).ReadJournalFor<SqliteReadJournal>(SqliteReadJournal.Identifier);

    protected override Task<long> HighestOrderingAsync() =>
        PersistenceQuery.Get(Sys).ReadJournalFor<SqliteReadJournal>(SqliteReadJournal.Identifier).HighestOrderingAsync();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db.Dispose();
    }
}
/// <summary>The read journal contract on MongoDB (a database per test), when <c>AKKAMAIL_TEST_MONGODB</c> is set.</summary>
public sealed class MongoDbReadJournalContract : ReadJournalContract
{
    private readonly MongoDbDatabaseFixture _db;

    public MongoDbReadJournalContract(ITestOutputHelper output) : this(new MongoDbDatabaseFixture(), output)
    {
    }

    private MongoDbReadJournalContract(MongoDbDatabaseFixture db, ITestOutputHelper output)
        : base(db.Hocon, MongoDbReadJournal.Identifier, output) => _db = db;

    protected override void SkipIfUnavailable() => Skip.IfNot(_db.IsAvailable, MongoDbDatabaseFixture.SkipReason);

    protected override IReadJournal ReadJournal =>
        PersistenceQuery.Get(Sys).ReadJournalFor<MongoDbReadJournal>(MongoDbReadJournal.Identifier);

    protected override Task<long> HighestOrderingAsync() =>
        PersistenceQuery.Get(Sys).ReadJournalFor<MongoDbReadJournal>(MongoDbReadJournal.Identifier).HighestOrderingAsync();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db.Dispose();
    }
}

/// <summary>The read journal contract on PostgreSQL (Akka.Persistence.Sql's query journal), a database per test.</summary>
public sealed class PostgresReadJournalContract : ReadJournalContract
{
    private readonly PostgresDatabaseFixture _db;

    public PostgresReadJournalContract(ITestOutputHelper output) : this(new PostgresDatabaseFixture(), output)
    {
    }

    private PostgresReadJournalContract(PostgresDatabaseFixture db, ITestOutputHelper output)
        : base(db.Hocon, PostgresPersistence.QueryJournalPluginId, output) => _db = db;

    protected override IReadJournal ReadJournal => PostgresPersistence.ReadJournal(Sys);

    protected override Task<long> HighestOrderingAsync() => PostgresJournalHead.For(Sys).HighestOrderingAsync();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db.Dispose();
    }
}

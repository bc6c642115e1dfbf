using Akka.Persistence.Query;
using AkkaMail.Persistence.MongoDb;
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

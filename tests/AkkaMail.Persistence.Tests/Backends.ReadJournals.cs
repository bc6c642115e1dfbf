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

    /// <summary>
    /// PostgreSQL hands out orderings before commit, so a write can commit after a later one. A live query must wait
    /// for the missing ordering rather than move past it, or a projection resuming from its offset would never see
    /// that event. Here a transaction takes an ordering, a later write commits, and the earlier one commits 1.5 s later.
    /// </summary>
    [Fact]
    public async Task AllEvents_waits_for_an_ordering_committed_after_a_later_one_instead_of_skipping_it()
    {
        Write("template", 1, "late-1");
        using var live = RunLive(((IAllEventsQuery)ReadJournal).AllEvents(Offset.NoOffset()));
        Assert.Equal("template", (await live.Next()).PersistenceId);

        await using var connection = new Npgsql.NpgsqlConnection(_db.ConnectionString);
        await connection.OpenAsync();
        await using var late = await connection.BeginTransactionAsync();
        // A copy of the template's row under another id: a writer that has its ordering and has not committed yet.
        await using (var insert = new Npgsql.NpgsqlCommand("""
            INSERT INTO journal (deleted, persistence_id, sequence_number, created, message, identifier, manifest, writer_uuid)
            SELECT deleted, 'late', 1, created, message, identifier, manifest, writer_uuid FROM journal WHERE persistence_id = 'template'
            """, connection, late))
            Assert.Equal(1, await insert.ExecuteNonQueryAsync());
        Write("early", 1, "early-1");

        var next = live.Next();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var movedTo = next.IsCompleted ? (await next).PersistenceId : "";
        Assert.False(next.IsCompleted, $"the live query moved past the uncommitted ordering to {movedTo}");
        await late.CommitAsync();
        var first = await next;
        var second = await live.Next();
        Assert.Equal(["late", "early"], new[] { first.PersistenceId, second.PersistenceId });
        Assert.True(((Sequence)first.Offset).Value < ((Sequence)second.Offset).Value);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _db.Dispose();
    }
}

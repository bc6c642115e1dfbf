using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

public sealed class SqliteJournalContract(SqliteDatabaseFixture db, ITestOutputHelper output)
    : JournalContract(db.Hocon, output), IClassFixture<SqliteDatabaseFixture>;

public sealed class SqliteSnapshotStoreContract(SqliteDatabaseFixture db, ITestOutputHelper output)
    : SnapshotStoreContract(db.Hocon, output), IClassFixture<SqliteDatabaseFixture>;

public sealed class MongoDbJournalContract(MongoDbDatabaseFixture db, ITestOutputHelper output)
    : JournalContract(db.Hocon, output), IClassFixture<MongoDbDatabaseFixture>
{
    protected override void SkipIfUnavailable() => Skip.IfNot(db.IsAvailable, MongoDbDatabaseFixture.SkipReason);
}

public sealed class MongoDbSnapshotStoreContract(MongoDbDatabaseFixture db, ITestOutputHelper output)
    : SnapshotStoreContract(db.Hocon, output), IClassFixture<MongoDbDatabaseFixture>
{
    protected override void SkipIfUnavailable() => Skip.IfNot(db.IsAvailable, MongoDbDatabaseFixture.SkipReason);
}

public sealed class PostgresJournalContract(PostgresDatabaseFixture db, ITestOutputHelper output)
    : JournalContract(db.Hocon, output), IClassFixture<PostgresDatabaseFixture>
{
    protected override bool ReplaysTheWrittenWriterGuid => false;
}

public sealed class PostgresSnapshotStoreContract(PostgresDatabaseFixture db, ITestOutputHelper output)
    : SnapshotStoreContract(db.Hocon, output), IClassFixture<PostgresDatabaseFixture>;

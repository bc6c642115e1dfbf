using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.Stores.Postgres;
using AkkaMail.Tests.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What the PostgreSQL backend adds to the contracts: its settings, checked at start, and its schema, created
/// once whoever starts first.</summary>
public sealed class PostgresStoreTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();

    [Fact]
    public void A_missing_or_malformed_connection_string_fails_at_start_naming_its_key_and_never_its_password()
    {
        var missing = Assert.Throws<OptionsValidationException>(() =>
            AkkaMailConfiguration.ReadOptions(Config(("AkkaMail:Store", "postgres"))));
        Assert.StartsWith("ConnectionStrings:Postgres is required when AkkaMail:Store is postgres", Assert.Single(missing.Failures));
        Assert.Contains("ConnectionStrings__Postgres", missing.Failures.Single());

        var malformed = Assert.Throws<OptionsValidationException>(() => AkkaMailConfiguration.ReadOptions(Config(
            ("AkkaMail:Store", "postgres"), ("ConnectionStrings:Postgres", "Host=db;Password=s3cret;Colour=blue"))));
        Assert.StartsWith("ConnectionStrings:Postgres is not an Npgsql connection string", Assert.Single(malformed.Failures));
        Assert.DoesNotContain("s3cret", malformed.Failures.Single());

        var hostless = Assert.Throws<OptionsValidationException>(() => AkkaMailConfiguration.ReadOptions(Config(
            ("AkkaMail:Store", "postgres"), ("ConnectionStrings:Postgres", "Username=akkamail;Password=s3cret"))));
        Assert.StartsWith("ConnectionStrings:Postgres names no Host", Assert.Single(hostless.Failures));

        Assert.Equal(StoreKind.Postgres, AkkaMailConfiguration.ReadOptions(Config(
            ("AkkaMail:Store", "Postgres"), ("ConnectionStrings:Postgres", "Host=db;Username=akkamail;Password=x;Database=akkamail"))).Store);
        // A registration without the options' validation still refuses, naming the key.
        var unvalidated = Assert.Throws<OptionsValidationException>(() =>
            new ServiceCollection().AddStores(new AkkaMailOptions { Store = StoreKind.Postgres }, Config()));
        Assert.Contains("ConnectionStrings:Postgres", unvalidated.Message);
    }

    [Fact]
    public void Postgres_runs_the_journal_snapshots_and_query_journal_of_Akka_Persistence_Sql_on_the_same_database()
    {
        const string cs = "Host=db;Username=akkamail;Password=x;Database=mail";
        var builder = new Akka.Hosting.AkkaConfigurationBuilder(new ServiceCollection(), "test");
        builder.WithPersistenceBackend(new AkkaMailOptions { Store = StoreKind.Postgres }, Config(("ConnectionStrings:Postgres", cs)));
        var config = builder.Configuration.Value;
        Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal("akka.persistence.snapshot-store.sql", config.GetString("akka.persistence.snapshot-store.plugin"));
        Assert.StartsWith("AkkaMail.Persistence.Postgres.PostgresJournal,", config.GetString("akka.persistence.journal.sql.class"));
        Assert.StartsWith("AkkaMail.Persistence.Postgres.PostgresSnapshotStore,", config.GetString("akka.persistence.snapshot-store.sql.class"));
        foreach (var plugin in new[] { "akka.persistence.journal.sql", "akka.persistence.snapshot-store.sql", "akka.persistence.query.journal.sql" })
        {
            Assert.Equal(cs, config.GetString($"{plugin}.connection-string"));
            Assert.Equal("PostgreSQL.15", config.GetString($"{plugin}.provider-name"));
        }
        Assert.True(config.GetBoolean("akka.persistence.journal.sql.trust-new-id-recovery"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), config.GetTimeSpan("akka.persistence.query.journal.sql.refresh-interval"));
        Assert.Contains("akka.persistence.journal.sql", config.GetStringList("akka.persistence.journal.auto-start-journals"));
    }

    [Fact]
    public async Task Every_store_of_several_processes_creates_the_schema_at_once_without_a_collision()
    {
        using var database = new PostgresTestDatabase("akkamail_schema");
        var instances = Enumerable.Range(0, 6).Select(_ => new PostgresDatabase(database.ConnectionString)).ToList();
        try
        {
            await Task.WhenAll(instances.Select(db => Task.Run(() => db.EnsureSchemaAsync())));
            await instances[0].EnsureSchemaAsync(); // and again: idempotent
            await using var c = await instances[0].OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name", c);
            var tables = new List<string>();
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) tables.Add(r.GetString(0));
            Assert.Equal(["api_keys", "emails", "projection_offsets", "suppression_lifts", "suppressions", "users", "webhook_tokens"], tables);
        }
        finally
        {
            foreach (var db in instances) await db.DisposeAsync();
        }
    }
}

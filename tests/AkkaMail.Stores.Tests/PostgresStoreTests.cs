using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.OutboundWebhooks;
using AkkaMail.Stores.Postgres;
using AkkaMail.Templates;
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
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name COLLATE \"C\"", c);
            var tables = new List<string>();
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) tables.Add(r.GetString(0));
            Assert.Equal(["api_keys", "emails", "erasures", "projection_offsets", "suppression_lifts", "suppressions", "template_versions", "templates",
                "users", "webhook_deliveries", "webhook_endpoints", "webhook_tokens"], tables);
        }
        finally
        {
            foreach (var db in instances) await db.DisposeAsync();
        }
    }

    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Processes_polling_one_database_at_once_never_get_the_same_delivery_and_a_dead_owner_s_claim_lapses()
    {
        using var database = new PostgresTestDatabase("akkamail_claims");
        await using var dbA = new PostgresDatabase(database.ConnectionString);
        await using var dbB = new PostgresDatabase(database.ConnectionString);
        var a = new PostgresWebhookStore(dbA, TimeSpan.FromMinutes(1));
        var b = new PostgresWebhookStore(dbB, TimeSpan.FromMinutes(1));
        await a.InitializeAsync();
        await b.InitializeAsync();
        const int emails = 40;
        var deliveries = Enumerable.Range(0, emails).Select(i => new WebhookDelivery(
            WebhookDelivery.IdFor("whe_a", $"e{i:D2}", 1), "whe_a", $"e{i:D2}", i + 1, $"evt_{i}", "delivered", "{}", T0)).ToList();
        await a.StoreAsync("outbound-webhooks", deliveries, emails, default);

        // Both poll at once, many times over: every head goes to exactly one of them.
        var polls = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).DueAsync("whe_a", T0, 7))));
        var fromA = polls.Where((_, i) => i % 2 == 0).SelectMany(p => p).Select(d => d.Id).ToHashSet();
        var fromB = polls.Where((_, i) => i % 2 == 1).SelectMany(p => p).Select(d => d.Id).ToHashSet();
        Assert.Empty(fromA.Intersect(fromB));
        Assert.NotEmpty(fromA);
        Assert.NotEmpty(fromB);

        // A poll is still a read for its owner (the worker sees its own heads in flight again), never for the other.
        var aAgain = (await a.DueAsync("whe_a", T0, emails)).Select(d => d.Id).ToHashSet();
        Assert.Superset(fromA, aAgain);
        Assert.Empty(aAgain.Intersect(fromB));
        Assert.Equal(emails, aAgain.Count + (await b.DueAsync("whe_a", T0, emails)).Count);

        // A recorded attempt releases the claim: its retry is anyone's when due.
        var retried = deliveries.Single(d => d.Id == fromA.First()) with { Attempts = 1, NextAttemptAt = T0.AddSeconds(10), FirstAttemptAt = T0 };
        await a.SaveAttemptAsync(retried);
        Assert.DoesNotContain(retried.Id, (await b.DueAsync("whe_a", T0, emails)).Select(d => d.Id));
        Assert.Contains(retried.Id, (await b.DueAsync("whe_a", T0.AddSeconds(10), emails)).Select(d => d.Id));

        // B stops polling (it died): once its lease is over, A gets what it held.
        var afterLease = (await a.DueAsync("whe_a", T0.AddMinutes(2), emails)).Select(d => d.Id).ToHashSet();
        Assert.Equal(emails, afterLease.Count);
    }

    [Fact]
    public async Task Processes_adding_versions_to_one_template_at_once_get_distinct_consecutive_versions_and_one_creation_wins()
    {
        using var database = new PostgresTestDatabase("akkamail_tpl");
        var instances = Enumerable.Range(0, 4).Select(_ => new PostgresDatabase(database.ConnectionString)).ToList();
        try
        {
            var stores = instances.Select(db => new PostgresTemplateStore(db)).ToList();
            await stores[0].InitializeAsync();
            var definition = new TemplateDefinition("Hi {{ name }}", "text", null, false);
            var creations = await Task.WhenAll(stores.Select(s => Task.Run(() => s.CreateAsync("usr_1", "welcome", definition, T0))));
            Assert.Single(creations, c => c is not null);
            Assert.Equal(1, creations.Single(c => c is not null)!.Version);

            var versions = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
                Task.Run(() => stores[i % stores.Count].AddVersionAsync("usr_1", "welcome", definition with { Text = $"v{i}" }, T0))));
            Assert.Equal(Enumerable.Range(2, 24), versions.Select(v => v!.Version).Order());
            Assert.Equal(25, (await stores[1].GetAsync("usr_1", "welcome"))!.Version);
        }
        finally
        {
            foreach (var db in instances) await db.DisposeAsync();
        }
    }
}

using AkkaMail.Providers;
using AkkaMail.Configuration;
using System.Text.Json;
using AkkaMail.Hosting;
using AkkaMail.Mailgun;
using AkkaMail.ReadModel;
using AkkaMail.Stores.MongoDb;
using AkkaMail.Suppressions;
using AkkaMail.Users;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>The MongoDB documents and queries, checked without a server.</summary>
public sealed class MongoDocumentMappingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static EmailView Full() => EmailReadStoreContract.View("em_1", version: 4, status: "delivered", phase: "Sent",
        providerMessageId: "<pm@mg>", tags: new[] { "a", "b" }) with
    {
        SendAt = T0.AddHours(1),
        NextAttemptAt = null,
        FailureReason = null,
        Recipients = new[]
        {
            new RecipientView("bob@example.com", "delivered", T0.AddSeconds(2), "ok", 250, 3, 1, true, false, new[] { "https://x.test/" }),
            new RecipientView("eve@example.com", "queued", null, null, null, 0, 0, false, false, Array.Empty<string>()),
        },
        Timeline = new[] { new TimelineView(T0, "accepted", null, null), new TimelineView(T0.AddSeconds(2), "delivered", "bob@example.com", "250", "mailgun") },
    };

    [Fact]
    public void A_view_survives_the_round_trip_through_bson_and_its_binary_form()
    {
        var view = Full();
        var doc = EmailDocumentMapper.ToBson(view);
        var back = EmailDocumentMapper.FromBson(BsonSerializer(doc));
        Assert.Equal(JsonSerializer.Serialize(view), JsonSerializer.Serialize(back));
        Assert.Equal("Sent", back.Phase);
    }

    private static BsonDocument BsonSerializer(BsonDocument doc) =>
        MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(doc.ToBson());

    [Fact]
    public void The_document_has_the_fields_the_indexes_and_filters_use()
    {
        var doc = EmailDocumentMapper.ToBson(Full());
        Assert.Equal("em_1", doc["_id"].AsString);
        Assert.Equal("usr_a", doc["UserId"].AsString);
        Assert.Equal("delivered", doc["Status"].AsString);
        Assert.Equal("Sent", doc["Phase"].AsString);
        Assert.Equal(T0.ToUnixTimeMilliseconds(), doc["CreatedAt"].AsBsonDateTime.MillisecondsSinceEpoch);
        Assert.Equal(new BsonArray { "a", "b" }, doc["Tags"].AsBsonArray);
        Assert.Equal("<pm@mg>", doc["ProviderMessageId"].AsString);
        Assert.Equal(4L, doc["Version"].AsInt64);
        Assert.Equal(new[] { "bob@example.com", "eve@example.com" },
            doc["Recipients"].AsBsonArray.Select(r => r["Address"].AsString));
        Assert.True(doc["NextAttemptAt"].IsBsonNull);
    }

    [Fact]
    public void Times_keep_milliseconds_and_become_utc()
    {
        var t = new DateTimeOffset(2026, 3, 1, 14, 0, 0, 123, TimeSpan.FromHours(2)).AddTicks(4567);
        var back = EmailDocumentMapper.ToDate(EmailDocumentMapper.Date(t));
        Assert.Equal(t.ToUnixTimeMilliseconds(), back.ToUnixTimeMilliseconds());
        Assert.Equal(TimeSpan.Zero, back.Offset);
        // A view without an acceptance time (MinValue) still maps.
        Assert.Equal(DateTimeOffset.MinValue, EmailDocumentMapper.ToDate(EmailDocumentMapper.Date(DateTimeOffset.MinValue)));
    }

    [Fact]
    public void A_document_without_optional_fields_reads_as_nulls()
    {
        var doc = EmailDocumentMapper.ToBson(EmailReadStoreContract.View("em_2"));
        foreach (var f in new[] { "ProviderMessageId", "SendAt", "NextAttemptAt", "FailureReason", "Phase" }) doc.Remove(f);
        var v = EmailDocumentMapper.FromBson(doc);
        Assert.Null(v.ProviderMessageId);
        Assert.Null(v.SendAt);
        Assert.Equal("", v.Phase);
    }

    [Fact]
    public void The_upsert_filter_only_matches_an_older_version()
    {
        var filter = MongoEmailReadStore.UpsertFilter(EmailReadStoreContract.View("em_1", version: 9));
        Assert.Equal(BsonDocument.Parse("{ _id: 'em_1', Version: { $lt: NumberLong(9) } }"), filter);
    }

    [Fact]
    public void A_search_needs_every_token_the_last_of_each_term_as_a_prefix_and_the_document_carries_its_tokens()
    {
        var q = new EmailQuery("usr_a", 10, Status: "sent") { Search = EmailSearch.Parse("bob@example.co ORD-55") };
        var expected = new BsonDocument("$and", new BsonArray
        {
            new BsonDocument("UserId", "usr_a"),
            new BsonDocument("Status", "sent"),
            new BsonDocument("SearchTokens", "bob"),
            new BsonDocument("SearchTokens", "example"),
            new BsonDocument("SearchTokens", new BsonRegularExpression("^co")),
            new BsonDocument("SearchTokens", "ord"),
            new BsonDocument("SearchTokens", new BsonRegularExpression("^55")),
        });
        Assert.Equal(expected, MongoEmailReadStore.ListFilter(q));
        Assert.Contains(MongoEmailReadStore.Indexes, i => i.Options.Name == "UserId_SearchTokens");

        var view = EmailReadStoreContract.View("em_s", providerMessageId: "<pm-7@mg>") with
        {
            SearchHeaders = new Dictionary<string, string> { ["X-Order-Id"] = "ORD-55" },
        };
        var doc = EmailDocumentMapper.ToBson(view);
        var tokens = doc["SearchTokens"].AsBsonArray.Select(t => t.AsString).ToArray();
        Assert.Equal(tokens.Distinct(), tokens);
        Assert.Subset(tokens.ToHashSet(), new HashSet<string> { "em", "s", "subject", "alice", "bob", "carol", "example", "com", "welcome", "pm", "7", "mg", "ord", "55" });
        Assert.Equal("ORD-55", EmailDocumentMapper.FromBson(doc).SearchHeaders!["X-Order-Id"]);
    }

    [Fact]
    public void The_list_filter_has_every_condition_and_the_cursor()
    {
        var q = new EmailQuery("usr_a", 10, Status: "sent", Recipient: "Bob <BOB@x.test>", Tag: "t",
            CreatedAfter: T0, CreatedBefore: T0.AddDays(1), After: new ListPosition(1234, "em_9"));
        var f = MongoEmailReadStore.ListFilter(q);
        var expected = new BsonDocument("$and", new BsonArray
        {
            new BsonDocument("UserId", "usr_a"),
            new BsonDocument("Status", "sent"),
            new BsonDocument("Recipients.Address", "bob@x.test"),
            new BsonDocument("Tags", "t"),
            new BsonDocument("CreatedAt", new BsonDocument("$gt", new BsonDateTime(T0.ToUnixTimeMilliseconds()))),
            new BsonDocument("CreatedAt", new BsonDocument("$lt", new BsonDateTime(T0.AddDays(1).ToUnixTimeMilliseconds()))),
            new BsonDocument("$or", new BsonArray
            {
                new BsonDocument("CreatedAt", new BsonDocument("$lt", new BsonDateTime(1234))),
                new BsonDocument { { "CreatedAt", new BsonDateTime(1234) }, { "_id", new BsonDocument("$lt", "em_9") } },
            }),
        });
        Assert.Equal(expected, f);
        Assert.Equal(new BsonDocument("UserId", "usr_b"), MongoEmailReadStore.ListFilter(new EmailQuery("usr_b", 5)));
        Assert.Equal(BsonDocument.Parse("{ CreatedAt: -1, _id: -1 }"), MongoEmailReadStore.ListSort);
    }

    [Fact]
    public void The_awaiting_report_fields_round_trip_and_their_filter_pages_by_provider_send_time_and_id()
    {
        var view = Full() with { AwaitingReportFrom = "mailgun", AwaitingReportSince = T0.AddMinutes(3) };
        var doc = EmailDocumentMapper.ToBson(view);
        Assert.Equal("mailgun", doc["AwaitingReportFrom"].AsString);
        Assert.Equal(T0.AddMinutes(3).ToUnixTimeMilliseconds(), doc["AwaitingReportSince"].AsBsonDateTime.MillisecondsSinceEpoch);
        var back = EmailDocumentMapper.FromBson(BsonSerializer(doc));
        Assert.Equal("mailgun", back.AwaitingReportFrom);
        Assert.Equal(T0.AddMinutes(3), back.AwaitingReportSince);

        var after = new SentPosition(T0.AddMinutes(1).ToUnixTimeMilliseconds(), "em_5");
        var filter = MongoEmailReadStore.AwaitingReportFilter("mailgun", after, T0.AddMinutes(30));
        var expected = new BsonDocument("$and", new BsonArray
        {
            new BsonDocument("AwaitingReportFrom", "mailgun"),
            new BsonDocument("AwaitingReportSince", new BsonDocument { { "$type", "date" }, { "$lte", new BsonDateTime(T0.AddMinutes(30).UtcDateTime) } }),
            new BsonDocument("$or", new BsonArray
            {
                new BsonDocument("AwaitingReportSince", new BsonDocument("$gt", new BsonDateTime(T0.AddMinutes(1).UtcDateTime))),
                new BsonDocument { { "AwaitingReportSince", new BsonDateTime(T0.AddMinutes(1).UtcDateTime) }, { "_id", new BsonDocument("$gt", "em_5") } },
            }),
        });
        Assert.Equal(expected, filter);
        Assert.Contains(MongoEmailReadStore.Indexes, i => i.Options.Name == "AwaitingReportFrom_Since_Id");
    }

    [Fact]
    public void The_unsettled_filter_names_the_unsettled_phases()
    {
        Assert.Equal(BsonDocument.Parse("{ Phase: { $in: ['Queued', 'Scheduled', 'Sending', 'RetryWaiting'] }, _id: { $gt: 'em_5' } }"),
            MongoEmailReadStore.UnsettledFilter("em_5"));
        Assert.Equal("", MongoEmailReadStore.UnsettledFilter(null)["_id"]["$gt"].AsString);
    }

    [Fact]
    public void The_email_indexes_cover_the_queries()
    {
        var keys = MongoEmailReadStore.Indexes.Select(i => i.Keys.Render(new(
            MongoDB.Bson.Serialization.BsonSerializer.SerializerRegistry.GetSerializer<BsonDocument>(),
            MongoDB.Bson.Serialization.BsonSerializer.SerializerRegistry)).ToString()).ToList();
        Assert.Contains("{ \"UserId\" : 1, \"CreatedAt\" : -1, \"_id\" : -1 }", keys);
        Assert.Contains("{ \"Status\" : 1 }", keys);
        Assert.Contains("{ \"Phase\" : 1, \"_id\" : 1 }", keys);
        Assert.Contains("{ \"ProviderMessageId\" : 1 }", keys);
        Assert.Contains("{ \"Tags\" : 1 }", keys);
        Assert.Contains("{ \"Recipients.Address\" : 1 }", keys);
    }

    [Fact]
    public void A_suppression_is_keyed_by_user_and_normalized_address()
    {
        var doc = MongoSuppressionStore.ToBson("usr_a", new Suppression("Bob <BOB@x.test>", "bounced", T0, "em_1"));
        Assert.Equal(BsonDocument.Parse("{ UserId: 'usr_a', Address: 'bob@x.test' }"), doc["_id"].AsBsonDocument);
        Assert.Equal(new Suppression("bob@x.test", "bounced", T0, "em_1"), MongoSuppressionStore.FromBson(doc));
        Assert.Null(MongoSuppressionStore.FromBson(MongoSuppressionStore.ToBson("u", new Suppression("a@b", "r", T0, null))).EmailId);
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();

    [Fact]
    public void A_wrong_store_or_a_missing_connection_string_fails_at_start_with_the_key_to_set()
    {
        var unknown = Assert.Throws<OptionsValidationException>(() =>
            AkkaMailConfiguration.ReadOptions(Config(("AkkaMail:Store", "oracle"))));
        Assert.Equal("AkkaMail:Store: 'oracle' is not one of sqlite, mongodb, postgres", Assert.Single(unknown.Failures));
        Assert.Equal(StoreKind.MongoDb, AkkaMailConfiguration.ReadOptions(Config(("AkkaMail:Store", "MongoDB"),
            ("ConnectionStrings:MongoDb", "mongodb://127.0.0.1:1"))).Store);
        var missing = Assert.Throws<OptionsValidationException>(() =>
            AkkaMailConfiguration.ReadOptions(Config(("AkkaMail:Store", "mongodb"))));
        Assert.StartsWith("ConnectionStrings:MongoDb is required when AkkaMail:Store is mongodb", Assert.Single(missing.Failures));
        Assert.Contains("ConnectionStrings__MongoDb", missing.Failures.Single());
        // A registration without the options' validation still refuses, naming the key.
        var unvalidated = Assert.Throws<OptionsValidationException>(() =>
            new ServiceCollection().AddStores(new AkkaMailOptions { Store = StoreKind.MongoDb }, Config()));
        Assert.Contains("ConnectionStrings:MongoDb", unvalidated.Message);
    }
}

public sealed class PersistenceBackendTests
{
    private static Akka.Configuration.Config PersistenceConfig(AkkaMailOptions options, params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();
        var builder = new Akka.Hosting.AkkaConfigurationBuilder(new ServiceCollection(), "test");
        builder.WithPersistenceBackend(options, configuration);
        return builder.Configuration.Value;
    }

    [Fact]
    public void Mongodb_puts_the_journal_and_snapshots_in_the_same_database()
    {
        var config = PersistenceConfig(new AkkaMailOptions { Store = StoreKind.MongoDb, MongoDatabase = "mail" },
            ("ConnectionStrings:MongoDb", "mongodb://mongodb:27017/?replicaSet=rs0"));
        Assert.Equal("akka.persistence.journal.mongodb", config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal("akka.persistence.snapshot-store.mongodb", config.GetString("akka.persistence.snapshot-store.plugin"));
        Assert.Equal("mongodb://mongodb:27017/?replicaSet=rs0", config.GetString("akka.persistence.journal.mongodb.connection-string"));
        Assert.Equal("mail", config.GetString("akka.persistence.journal.mongodb.database"));
        Assert.Equal("mail", config.GetString("akka.persistence.snapshot-store.mongodb.database"));
    }

    [Fact]
    public void Sqlite_keeps_the_journal_file_in_the_data_folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"akkamail-stores-{Guid.NewGuid():N}");
        try
        {
            var config = PersistenceConfig(new AkkaMailOptions { DataPath = dir });
            Assert.Equal("akka.persistence.journal.sqlite", config.GetString("akka.persistence.journal.plugin"));
            Assert.Equal("akka.persistence.snapshot-store.sqlite", config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Contains(Path.Combine(dir, "events.db"), config.GetString("akka.persistence.journal.sqlite.connection-string"));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}

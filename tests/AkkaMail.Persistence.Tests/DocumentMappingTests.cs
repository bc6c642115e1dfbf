using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;
using AkkaMail.Persistence.MongoDb;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using MongoDB.Bson.Serialization.Serializers;
using MongoDB.Driver;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Persistence.Tests;

/// <summary>The BSON mapping of events and snapshots, without a MongoDB server.</summary>
public sealed class DocumentMappingTests(ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(ContractConfig.Common, output: output)
{
    private static BsonDocument ThroughTheWire(BsonDocument doc) =>
        BsonSerializer.Deserialize<BsonDocument>(doc.ToBson());

    private static JournalEntry SampleEntry(IReadOnlyList<string>? tags = null) => new(
        "email-42", 7, false, [1, 2, 3, 255], "contract-event.v1", 7401, tags ?? ["red", "blue"],
        Ordering: 123_456_789_012L, Timestamp: 638_000_000_000_000_001L, WriterGuid: "writer-1");

    [Fact]
    public void Journal_entry_maps_to_the_Akka_Persistence_MongoDb_layout()
    {
        var doc = JournalDocumentMapper.ToBson(SampleEntry());

        Assert.Equal("email-42_7", doc["_id"].AsString);
        Assert.Equal("email-42", doc["PersistenceId"].AsString);
        Assert.Equal(BsonType.Int64, doc["SequenceNr"].BsonType);
        Assert.Equal(7L, doc["SequenceNr"].AsInt64);
        Assert.False(doc["IsDeleted"].AsBoolean);
        Assert.Equal(BsonBinarySubType.Binary, doc["Payload"].AsBsonBinaryData.SubType);
        Assert.Equal(new byte[] { 1, 2, 3, 255 }, doc["Payload"].AsByteArray);
        Assert.Equal("contract-event.v1", doc["Manifest"].AsString);
        Assert.Equal(BsonType.Int32, doc["SerializerId"].BsonType);
        Assert.Equal(7401, doc["SerializerId"].AsInt32);
        Assert.Equal(new BsonArray { "red", "blue" }, doc["Tags"].AsBsonArray);
        Assert.Equal(BsonType.Int64, doc["Ordering"].BsonType);
        Assert.Equal(123_456_789_012L, doc["Ordering"].AsInt64);
        Assert.Equal(638_000_000_000_000_001L, doc["Timestamp"].AsInt64);
        Assert.Equal("writer-1", doc["WriterGuid"].AsString);
    }

    [Fact]
    public void Journal_entry_round_trips_through_BSON_bytes()
    {
        var entry = SampleEntry();
        var back = JournalDocumentMapper.FromBson(ThroughTheWire(JournalDocumentMapper.ToBson(entry)));

        Assert.Equal(entry.PersistenceId, back.PersistenceId);
        Assert.Equal(entry.SequenceNr, back.SequenceNr);
        Assert.Equal(entry.IsDeleted, back.IsDeleted);
        Assert.Equal(entry.Payload, back.Payload);
        Assert.Equal(entry.Manifest, back.Manifest);
        Assert.Equal(entry.SerializerId, back.SerializerId);
        Assert.Equal(entry.Tags, back.Tags);
        Assert.Equal(entry.Ordering, back.Ordering);
        Assert.Equal(entry.Timestamp, back.Timestamp);
        Assert.Equal(entry.WriterGuid, back.WriterGuid);
    }

    [Fact]
    public void Journal_document_without_optional_fields_is_read()
    {
        // as an older writer may have left it: no tags, no writer guid, null manifest, Int32 numbers
        var doc = new BsonDocument
        {
            { "_id", "p_1" }, { "PersistenceId", "p" }, { "SequenceNr", 1 }, { "IsDeleted", false },
            { "Payload", new BsonBinaryData([9]) }, { "Manifest", BsonNull.Value }, { "SerializerId", 1 },
        };
        var entry = JournalDocumentMapper.FromBson(doc);
        Assert.Equal(1L, entry.SequenceNr);
        Assert.Empty(entry.Tags);
        Assert.Equal(string.Empty, entry.Manifest);
        Assert.Null(entry.WriterGuid);
        Assert.Equal(0L, entry.Ordering);
    }

    [Fact]
    public void Event_is_serialized_by_its_bound_serializer_with_its_manifest_and_back()
    {
        var serializer = new JournalEntrySerializer(Sys);
        var persistent = new Persistent(new ContractEvent("hello"), 3, "p-1", string.Empty, false, ActorRefs.NoSender, "w-1", 99L);

        var entry = serializer.ToEntry(persistent, ordering: 5);
        Assert.Equal(ContractSerializer.Id, entry.SerializerId);
        Assert.Equal(ContractSerializer.EventManifest, entry.Manifest);
        Assert.Equal("v1|hello", System.Text.Encoding.UTF8.GetString(entry.Payload));
        Assert.Equal(5, entry.Ordering);
        Assert.Equal(99L, entry.Timestamp);
        Assert.Empty(entry.Tags);

        var back = serializer.FromEntry(JournalDocumentMapper.FromBson(ThroughTheWire(JournalDocumentMapper.ToBson(entry))));
        var evt = Assert.IsType<ContractEvent>(back.Payload);
        Assert.Equal("hello", evt.Value);
        Assert.Equal($"{nameof(ContractSerializer)}:{ContractSerializer.EventManifest}", evt.DecodedBy);
        Assert.Equal("p-1", back.PersistenceId);
        Assert.Equal(3, back.SequenceNr);
        Assert.Equal("w-1", back.WriterGuid);
        Assert.Equal(99L, back.Timestamp);
        Assert.False(back.IsDeleted);
    }

    [Fact]
    public void Tagged_event_stores_its_tags_and_its_inner_payload()
    {
        var serializer = new JournalEntrySerializer(Sys);
        var persistent = new Persistent(new Tagged("plain", new[] { "a", "b" }), 1, "p-1", string.Empty, false, ActorRefs.NoSender, "w");

        var entry = serializer.ToEntry(persistent, ordering: 1);
        Assert.Equal(new[] { "a", "b" }, entry.Tags.OrderBy(t => t));
        Assert.Equal(Sys.Serialization.FindSerializerFor("plain").Identifier, entry.SerializerId);
        Assert.NotEqual(0L, entry.Timestamp); // stamped when the representation had none

        var back = serializer.FromEntry(entry);
        Assert.Equal("plain", back.Payload);
    }

    [Fact]
    public void Unserializable_event_throws_so_that_its_write_is_rejected()
    {
        var serializer = new JournalEntrySerializer(Sys);
        var persistent = new Persistent(new Unserializable("x"), 1, "p-1", string.Empty, false, ActorRefs.NoSender, "w");
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.ToEntry(persistent, 1));
    }

    [Fact]
    public void Snapshot_entry_maps_to_the_Akka_Persistence_MongoDb_layout_and_back()
    {
        var entry = new SnapshotEntry("email-42", 12, 638_000_000_000_000_007L, [4, 5, 6], "m", 7401);
        var doc = SnapshotDocumentMapper.ToBson(entry);

        Assert.Equal("email-42_12", doc["_id"].AsString);
        Assert.Equal("email-42", doc["PersistenceId"].AsString);
        Assert.Equal(12L, doc["SequenceNr"].AsInt64);
        Assert.Equal(638_000_000_000_000_007L, doc["Timestamp"].AsInt64);
        Assert.Equal(new byte[] { 4, 5, 6 }, doc["Snapshot"].AsByteArray);
        Assert.Equal("m", doc["Manifest"].AsString);
        Assert.Equal(7401, doc["SerializerId"].AsInt32);

        var back = SnapshotDocumentMapper.FromBson(ThroughTheWire(doc));
        Assert.Equal(entry.PersistenceId, back.PersistenceId);
        Assert.Equal(entry.SequenceNr, back.SequenceNr);
        Assert.Equal(entry.Timestamp, back.Timestamp);
        Assert.Equal(entry.Snapshot, back.Snapshot);
        Assert.Equal(entry.Manifest, back.Manifest);
        Assert.Equal(entry.SerializerId, back.SerializerId);
    }

    [Fact]
    public void Snapshot_is_serialized_by_its_bound_serializer_and_keeps_its_exact_timestamp()
    {
        var serializer = new SnapshotEntrySerializer(Sys);
        var timestamp = new DateTime(638_000_000_000_000_007L, DateTimeKind.Utc); // sub-millisecond ticks
        var metadata = new SnapshotMetadata("p-9", 4, timestamp);

        var entry = serializer.ToEntry(metadata, new ContractEvent("state"));
        Assert.Equal(ContractSerializer.Id, entry.SerializerId);
        Assert.Equal(ContractSerializer.EventManifest, entry.Manifest);

        var selected = serializer.FromEntry(SnapshotDocumentMapper.FromBson(ThroughTheWire(SnapshotDocumentMapper.ToBson(entry))));
        Assert.Equal(metadata, selected.Metadata);
        Assert.Equal(timestamp.Ticks, selected.Metadata.Timestamp.Ticks);
        var snap = Assert.IsType<ContractEvent>(selected.Snapshot);
        Assert.Equal("state", snap.Value);
        Assert.NotNull(snap.DecodedBy);
    }

    [Fact]
    public void Snapshot_criteria_become_a_filter_on_sequence_number_and_timestamp_ticks()
    {
        var max = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var filter = MongoDbSnapshotStore.CriteriaFilter("p", new SnapshotSelectionCriteria(10, max));
        var rendered = filter.Render(new RenderArgs<BsonDocument>(BsonDocumentSerializer.Instance, BsonSerializer.SerializerRegistry));

        Assert.Equal(
            BsonDocument.Parse($"{{ PersistenceId: 'p', SequenceNr: {{ $lte: NumberLong(10) }}, Timestamp: {{ $lte: NumberLong('{max.Ticks}') }} }}"),
            rendered);

        var withMin = MongoDbSnapshotStore.CriteriaFilter("p", new SnapshotSelectionCriteria(10, max, 3, new DateTime(5)))
            .Render(new RenderArgs<BsonDocument>(BsonDocumentSerializer.Instance, BsonSerializer.SerializerRegistry));
        Assert.Contains("$gte", withMin.ToJson(new JsonWriterSettings { OutputMode = JsonOutputMode.RelaxedExtendedJson }));
    }
}

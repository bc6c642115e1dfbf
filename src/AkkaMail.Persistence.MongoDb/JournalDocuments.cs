using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;
using MongoDB.Bson;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>One event as stored in the journal collection, payload already serialized.</summary>
public sealed record JournalEntry(
    string PersistenceId,
    long SequenceNr,
    bool IsDeleted,
    byte[] Payload,
    string Manifest,
    int SerializerId,
    IReadOnlyList<string> Tags,
    long Ordering,
    long Timestamp,
    string? WriterGuid);

/// <summary>Field names of the journal and metadata documents (the Akka.Persistence.MongoDb layout).</summary>
public static class JournalFields
{
    public const string Id = "_id";
    public const string PersistenceId = "PersistenceId";
    public const string SequenceNr = "SequenceNr";
    public const string IsDeleted = "IsDeleted";
    public const string Payload = "Payload";
    public const string Manifest = "Manifest";
    public const string SerializerId = "SerializerId";
    public const string Tags = "Tags";
    public const string Ordering = "Ordering";
    public const string Timestamp = "Timestamp";
    public const string WriterGuid = "WriterGuid";

    /// <summary>The <c>_id</c> of an event or snapshot document: <c>{PersistenceId}_{SequenceNr}</c>.</summary>
    public static string DocumentId(string persistenceId, long sequenceNr) => $"{persistenceId}_{sequenceNr}";
}

/// <summary>Pure mapping between <see cref="JournalEntry"/> and its BSON document.</summary>
public static class JournalDocumentMapper
{
    public static BsonDocument ToBson(JournalEntry entry)
    {
        var doc = new BsonDocument
        {
            { JournalFields.Id, JournalFields.DocumentId(entry.PersistenceId, entry.SequenceNr) },
            { JournalFields.PersistenceId, entry.PersistenceId },
            { JournalFields.SequenceNr, entry.SequenceNr },
            { JournalFields.IsDeleted, entry.IsDeleted },
            { JournalFields.Payload, new BsonBinaryData(entry.Payload) },
            { JournalFields.Manifest, entry.Manifest },
            { JournalFields.SerializerId, entry.SerializerId },
            { JournalFields.Tags, new BsonArray(entry.Tags) },
            { JournalFields.Ordering, entry.Ordering },
            { JournalFields.Timestamp, entry.Timestamp },
        };
        if (entry.WriterGuid is not null) doc.Add(JournalFields.WriterGuid, entry.WriterGuid);
        return doc;
    }

    public static JournalEntry FromBson(BsonDocument doc)
    {
        var tags = doc.TryGetValue(JournalFields.Tags, out var t) && t.IsBsonArray
            ? t.AsBsonArray.Select(v => v.AsString).ToArray()
            : Array.Empty<string>();
        return new JournalEntry(
            doc[JournalFields.PersistenceId].AsString,
            doc[JournalFields.SequenceNr].ToInt64(),
            doc.TryGetValue(JournalFields.IsDeleted, out var d) && d.ToBoolean(),
            doc[JournalFields.Payload].AsBsonBinaryData.Bytes,
            doc.TryGetValue(JournalFields.Manifest, out var m) && !m.IsBsonNull ? m.AsString : string.Empty,
            doc[JournalFields.SerializerId].ToInt32(),
            tags,
            doc.TryGetValue(JournalFields.Ordering, out var o) ? o.ToInt64() : 0L,
            doc.TryGetValue(JournalFields.Timestamp, out var ts) ? ts.ToInt64() : 0L,
            doc.TryGetValue(JournalFields.WriterGuid, out var w) && !w.IsBsonNull ? w.AsString : null);
    }
}

/// <summary>Maps persistent representations to and from <see cref="JournalEntry"/> through Akka serialization.</summary>
public sealed class JournalEntrySerializer
{
    private readonly ExtendedActorSystem _system;

    public JournalEntrySerializer(ActorSystem system) => _system = (ExtendedActorSystem)system;

    /// <summary>
    /// Serializes a representation. A <see cref="Tagged"/> payload is unwrapped: its tags go to
    /// <see cref="JournalEntry.Tags"/>, its payload is serialized. Throws if the payload cannot be serialized.
    /// </summary>
    public JournalEntry ToEntry(IPersistentRepresentation persistent, long ordering)
    {
        var payload = persistent.Payload;
        IReadOnlyList<string> tags = Array.Empty<string>();
        if (payload is Tagged tagged)
        {
            payload = tagged.Payload;
            tags = tagged.Tags.ToArray();
        }

        var serializer = _system.Serialization.FindSerializerFor(payload);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, payload);
        var bytes = Akka.Serialization.Serialization.WithTransport(_system, () => serializer.ToBinary(payload));
        var timestamp = persistent.Timestamp != 0 ? persistent.Timestamp : DateTime.UtcNow.Ticks;
        return new JournalEntry(
            persistent.PersistenceId, persistent.SequenceNr, persistent.IsDeleted, bytes, manifest,
            serializer.Identifier, tags, ordering, timestamp, persistent.WriterGuid);
    }

    /// <summary>Deserializes an entry into a persistent representation (no sender).</summary>
    public IPersistentRepresentation FromEntry(JournalEntry entry)
    {
        var payload = _system.Serialization.Deserialize(entry.Payload, entry.SerializerId, entry.Manifest);
        return new Persistent(
            payload, entry.SequenceNr, entry.PersistenceId, entry.Manifest, entry.IsDeleted,
            ActorRefs.NoSender, entry.WriterGuid ?? string.Empty, entry.Timestamp);
    }
}

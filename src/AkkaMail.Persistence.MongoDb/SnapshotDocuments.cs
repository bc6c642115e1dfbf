using Akka.Actor;
using Akka.Persistence;
using MongoDB.Bson;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>One snapshot as stored in the snapshot collection, already serialized.</summary>
/// <param name="Timestamp">Ticks of the snapshot's UTC timestamp (full precision, unlike BSON dates).</param>
public sealed record SnapshotEntry(
    string PersistenceId,
    long SequenceNr,
    long Timestamp,
    byte[] Snapshot,
    string Manifest,
    int SerializerId);

/// <summary>Field names of the snapshot documents (the Akka.Persistence.MongoDb layout).</summary>
public static class SnapshotFields
{
    public const string Id = "_id";
    public const string PersistenceId = "PersistenceId";
    public const string SequenceNr = "SequenceNr";
    public const string Timestamp = "Timestamp";
    public const string Snapshot = "Snapshot";
    public const string Manifest = "Manifest";
    public const string SerializerId = "SerializerId";
}

/// <summary>Pure mapping between <see cref="SnapshotEntry"/> and its BSON document.</summary>
public static class SnapshotDocumentMapper
{
    public static BsonDocument ToBson(SnapshotEntry entry) => new()
    {
        { SnapshotFields.Id, JournalFields.DocumentId(entry.PersistenceId, entry.SequenceNr) },
        { SnapshotFields.PersistenceId, entry.PersistenceId },
        { SnapshotFields.SequenceNr, entry.SequenceNr },
        { SnapshotFields.Timestamp, entry.Timestamp },
        { SnapshotFields.Snapshot, new BsonBinaryData(entry.Snapshot) },
        { SnapshotFields.Manifest, entry.Manifest },
        { SnapshotFields.SerializerId, entry.SerializerId },
    };

    public static SnapshotEntry FromBson(BsonDocument doc) => new(
        doc[SnapshotFields.PersistenceId].AsString,
        doc[SnapshotFields.SequenceNr].ToInt64(),
        doc[SnapshotFields.Timestamp].ToInt64(),
        doc[SnapshotFields.Snapshot].AsBsonBinaryData.Bytes,
        doc.TryGetValue(SnapshotFields.Manifest, out var m) && !m.IsBsonNull ? m.AsString : string.Empty,
        doc[SnapshotFields.SerializerId].ToInt32());
}

/// <summary>Maps snapshots to and from <see cref="SnapshotEntry"/> through Akka serialization.</summary>
public sealed class SnapshotEntrySerializer
{
    private readonly ExtendedActorSystem _system;

    public SnapshotEntrySerializer(ActorSystem system) => _system = (ExtendedActorSystem)system;

    public SnapshotEntry ToEntry(SnapshotMetadata metadata, object snapshot)
    {
        var serializer = _system.Serialization.FindSerializerFor(snapshot);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, snapshot);
        var bytes = Akka.Serialization.Serialization.WithTransport(_system, () => serializer.ToBinary(snapshot));
        return new SnapshotEntry(
            metadata.PersistenceId, metadata.SequenceNr, metadata.Timestamp.Ticks, bytes, manifest, serializer.Identifier);
    }

    public SelectedSnapshot FromEntry(SnapshotEntry entry)
    {
        var snapshot = _system.Serialization.Deserialize(entry.Snapshot, entry.SerializerId, entry.Manifest);
        var metadata = new SnapshotMetadata(
            entry.PersistenceId, entry.SequenceNr, new DateTime(entry.Timestamp, DateTimeKind.Utc));
        return new SelectedSnapshot(metadata, snapshot);
    }
}

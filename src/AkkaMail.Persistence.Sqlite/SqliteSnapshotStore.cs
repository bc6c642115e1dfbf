using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using Akka.Serialization;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>
/// Akka.Persistence snapshot store on SQLite: one row per snapshot (see <see cref="SqliteSchema.SnapshotTable"/>);
/// saving the same sequence number again replaces it. Snapshots are rare, so each call opens a pooled
/// connection and runs one statement.
/// </summary>
public sealed class SqliteSnapshotStore : SnapshotStore
{
    private const string Columns = "persistence_id, sequence_nr, created, manifest, serializer_id, payload";

    // Latest first within the criteria; MaxTimeStamp/MinTimestamp are compared as ticks.
    private const string CriteriaWhere =
        "persistence_id = $pid AND sequence_nr <= $maxSeq AND created <= $maxTs AND sequence_nr >= $minSeq AND created >= $minTs";

    private readonly SqliteSnapshotSettings _settings;
    private readonly ExtendedActorSystem _system;
    private readonly string _table;

    public SqliteSnapshotStore(Config config)
    {
        _settings = SqliteSnapshotSettings.Create(config);
        _system = (ExtendedActorSystem)Context.System;
        _table = SqliteSchema.Quote(_settings.TableName);
    }

    protected override void PreStart()
    {
        base.PreStart();
        SqliteSchema.EnsureWal(_settings.ConnectionString);
        if (!_settings.AutoInitialize) return;
        using var connection = SqliteSchema.Open(_settings.ConnectionString);
        using var command = connection.CreateCommand();
        command.CommandText = SqliteSchema.SnapshotTable(_settings.TableName);
        command.ExecuteNonQuery();
    }

    protected override Task<SelectedSnapshot?> LoadAsync(
        string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            using var connection = SqliteSchema.Open(_settings.ConnectionString);
            using var command = Command(connection,
                $"SELECT {Columns} FROM {_table} WHERE {CriteriaWhere} ORDER BY sequence_nr DESC, created DESC LIMIT 1;");
            BindCriteria(command, persistenceId, criteria);
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return null;
            var snapshot = _system.Serialization.Deserialize(
                reader.GetFieldValue<byte[]>(5), reader.GetInt32(4), reader.GetString(3));
            var metadata = new SnapshotMetadata(
                reader.GetString(0), reader.GetInt64(1), new DateTime(reader.GetInt64(2), DateTimeKind.Utc));
            return new SelectedSnapshot(metadata, snapshot);
        }, cancellationToken)!;

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        // Serialize on the caller: a failure is the save's failure, before any connection is taken.
        var serializer = _system.Serialization.FindSerializerFor(snapshot);
        var manifest = Serialization.ManifestFor(serializer, snapshot);
        var bytes = Serialization.WithTransport(_system, (serializer, snapshot), static s => s.serializer.ToBinary(s.snapshot));
        return Task.Run(() =>
        {
            using var connection = SqliteSchema.Open(_settings.ConnectionString);
            using var command = Command(connection, $"INSERT OR REPLACE INTO {_table} ({Columns}) VALUES ($pid, $seq, $ts, $manifest, $sid, $payload);");
            command.Parameters.Add("$pid", SqliteType.Text).Value = metadata.PersistenceId;
            command.Parameters.Add("$seq", SqliteType.Integer).Value = metadata.SequenceNr;
            command.Parameters.Add("$ts", SqliteType.Integer).Value = metadata.Timestamp.Ticks;
            command.Parameters.Add("$manifest", SqliteType.Text).Value = manifest;
            command.Parameters.Add("$sid", SqliteType.Integer).Value = serializer.Identifier;
            command.Parameters.Add("$payload", SqliteType.Blob).Value = bytes;
            command.ExecuteNonQuery();
        }, cancellationToken);
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            // Without a timestamp the snapshot is identified by its sequence number alone.
            using var connection = SqliteSchema.Open(_settings.ConnectionString);
            using var command = Command(connection,
                $"DELETE FROM {_table} WHERE persistence_id = $pid AND sequence_nr = $seq AND ($ts = 0 OR created = $ts);");
            command.Parameters.Add("$pid", SqliteType.Text).Value = metadata.PersistenceId;
            command.Parameters.Add("$seq", SqliteType.Integer).Value = metadata.SequenceNr;
            command.Parameters.Add("$ts", SqliteType.Integer).Value =
                metadata.Timestamp > DateTime.MinValue ? metadata.Timestamp.Ticks : 0L;
            command.ExecuteNonQuery();
        }, cancellationToken);

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            using var connection = SqliteSchema.Open(_settings.ConnectionString);
            using var command = Command(connection, $"DELETE FROM {_table} WHERE {CriteriaWhere};");
            BindCriteria(command, persistenceId, criteria);
            command.ExecuteNonQuery();
        }, cancellationToken);

    private SqliteCommand Command(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = (int)Math.Ceiling(_settings.CallTimeout.TotalSeconds);
        return command;
    }

    private static void BindCriteria(SqliteCommand command, string persistenceId, SnapshotSelectionCriteria criteria)
    {
        command.Parameters.Add("$pid", SqliteType.Text).Value = persistenceId;
        command.Parameters.Add("$maxSeq", SqliteType.Integer).Value = criteria.MaxSequenceNr;
        command.Parameters.Add("$maxTs", SqliteType.Integer).Value = criteria.MaxTimeStamp.Ticks;
        command.Parameters.Add("$minSeq", SqliteType.Integer).Value = criteria.MinSequenceNr;
        command.Parameters.Add("$minTs", SqliteType.Integer).Value = criteria.MinTimestamp?.Ticks ?? 0L;
    }

    /// <summary>Healthy while the circuit breaker is closed and the database file answers a read.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        SqliteSchema.ProbeUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _settings.ConnectionString, _settings.CallTimeout, cancellationToken);
}

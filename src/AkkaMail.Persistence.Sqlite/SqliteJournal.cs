using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Serialization;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>
/// Akka.Persistence journal on SQLite (Microsoft.Data.Sqlite). Writes are serialized on the caller and
/// handed to one <see cref="SqliteJournalWriter"/>, which commits the writes of many persistent actors in one
/// transaction (group commit); reads run on pooled connections beside it (WAL).
/// </summary>
/// <remarks>
/// Tables: see <see cref="SqliteSchema.JournalTables"/>. <c>ordering</c> is the rowid, assigned at insert by
/// the single writer, so it increases in commit order. The highest sequence number of a persistence id is
/// kept in the metadata table when its events are deleted (highest = max of journal and metadata).
/// </remarks>
public sealed class SqliteJournal : AsyncWriteJournal
{
    private readonly SqliteJournalSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ExtendedActorSystem _system;
    private readonly string _replaySql;
    private readonly string _highestSql;
    private readonly ActorCell _cell;
    private SqliteJournalWriter _writer = null!;

    // Per persistence id, the last write handed to the writer (the writer commits in queue order, so once it is
    // done every earlier one of that id is too). ReadHighestSequenceNr waits for the id's own writes only: a new
    // actor (thousands a second: a new email each) must not wait for the commit of everybody else's events.
    // Completed entries are pruned as the map grows.
    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);
    private int _pruneAt = MinPruneAt;
    private const int MinPruneAt = 1024;

    public SqliteJournal(Config config)
    {
        _settings = SqliteJournalSettings.Create(config);
        _system = (ExtendedActorSystem)Context.System;
        _cell = (ActorCell)Context;
        var journal = SqliteSchema.Quote(_settings.TableName);
        var metadata = SqliteSchema.Quote(_settings.MetadataTableName);
        _replaySql =
            $"SELECT sequence_nr, timestamp, manifest, serializer_id, payload, writer_uuid FROM {journal} " +
            "WHERE persistence_id = $pid AND sequence_nr >= $from AND sequence_nr <= $to ORDER BY sequence_nr LIMIT $max;";
        _highestSql =
            $"SELECT MAX(h) FROM (SELECT MAX(sequence_nr) AS h FROM {journal} WHERE persistence_id = $pid " +
            $"UNION ALL SELECT sequence_nr FROM {metadata} WHERE persistence_id = $pid);";
    }

    /// <summary>The writer (for tests: its transaction counters).</summary>
    internal SqliteJournalWriter Writer => _writer;

    protected override void PreStart()
    {
        base.PreStart();
        _writer = new SqliteJournalWriter(_settings);
        _writer.Start();
    }

    protected override void PostStop()
    {
        if (_writer is not null && !_writer.Stop(_settings.CallTimeout))
            _log.Warning("The SQLite journal writer did not stop within {0}; it closes its connection when its batch ends.",
                _settings.CallTimeout);
        base.PostStop();
    }

    // Writes go through AsyncWriteJournal (its circuit breaker and resequencer answer them); StartWrite only
    // serializes on the actor's thread and queues the rows for the writer, which commits in queue order.
    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(
        IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var (request, results, error) = StartWrite(messages as IReadOnlyList<AtomicWrite> ?? messages.ToArray());
        if (error is not null) return Task.FromException<IImmutableList<Exception?>>(error);
        return request?.Completion.Task ?? Task.FromResult(results!);
    }

    /// <summary>
    /// Serializes the writes (on the actor's thread: a payload that cannot be serialized rejects its AtomicWrite
    /// only, its slot in the results) and queues the rest for the writer. Returns the queued request, or, when
    /// nothing was queued, the results (every write rejected) or the error (the journal is stopping).
    /// </summary>
    private (WriteRequest? Request, IImmutableList<Exception?>? Results, Exception? Error) StartWrite(
        IReadOnlyList<AtomicWrite> writes)
    {
        var eventCount = 0;
        for (var i = 0; i < writes.Count; i++)
            eventCount += ((IImmutableList<IPersistentRepresentation>)writes[i].Payload).Count;

        var rows = new JournalRow[eventCount];
        var rowCount = 0;
        var atomicWrites = 0;
        Exception?[]? rejections = null;
        for (var i = 0; i < writes.Count; i++)
        {
            var events = (IImmutableList<IPersistentRepresentation>)writes[i].Payload;
            var start = rowCount;
            try
            {
                for (var j = 0; j < events.Count; j++)
                    rows[rowCount++] = ToRow(events[j]);
                atomicWrites++;
            }
            catch (Exception e)
            {
                rowCount = start;
                rejections ??= new Exception?[writes.Count];
                rejections[i] = e;
            }
        }

        IImmutableList<Exception?>? results = rejections is null ? null : ImmutableArray.Create(rejections);
        if (rowCount == 0) return (null, results, null);

        var request = new WriteRequest(rows, rowCount, atomicWrites, results);
        if (!_writer.TryEnqueue(request))
            return (null, null, new InvalidOperationException("The SQLite journal is stopping."));
        var written = request.Completion.Task;
        string? previous = null;
        for (var i = 0; i < rowCount; i++)
        {
            var persistenceId = rows[i].PersistenceId;
            if (persistenceId == previous) continue;
            _inFlight[persistenceId] = written;
            previous = persistenceId;
        }
        if (_inFlight.Count >= _pruneAt) PruneCompletedWrites();
        return (request, null, null);
    }

    /// <summary>
    /// Serializes one event. A <see cref="Tagged"/> payload is unwrapped: its tags go to the tags column, its
    /// payload is serialized. Throws if the payload cannot be serialized.
    /// </summary>
    private JournalRow ToRow(IPersistentRepresentation persistent)
    {
        var payload = persistent.Payload;
        string? tags = null;
        if (payload is Tagged tagged)
        {
            payload = tagged.Payload;
            tags = JoinTags(tagged.Tags);
        }

        var serializer = _system.Serialization.FindSerializerFor(payload);
        var manifest = Serialization.ManifestFor(serializer, payload);
        var bytes = Serialization.WithTransport(_system, (serializer, payload), static s => s.serializer.ToBinary(s.payload));
        var timestamp = persistent.Timestamp != 0 ? persistent.Timestamp : DateTime.UtcNow.Ticks;
        return new JournalRow(
            persistent.PersistenceId, persistent.SequenceNr, timestamp, manifest, serializer.Identifier, bytes, tags,
            persistent.WriterGuid ?? string.Empty, payload);
    }

    /// <summary>Tags as <c>;a;b;</c> (see <see cref="SqliteSchema.JournalTables"/>); null when there are none.</summary>
    private static string? JoinTags(IImmutableSet<string> tags)
    {
        if (tags.Count == 0) return null;
        var builder = new System.Text.StringBuilder(";");
        foreach (var tag in tags)
        {
            if (tag.Contains(';'))
                throw new ArgumentException($"Tag '{tag}' contains ';', the separator of the tags column.");
            builder.Append(tag).Append(';');
        }
        return builder.ToString();
    }

    public override Task ReplayMessagesAsync(
        IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0 || fromSequenceNr > toSequenceNr) return Task.CompletedTask;
        // Off the actor's thread: Microsoft.Data.Sqlite's calls are synchronous.
        return Task.Run(() => Replay(persistenceId, fromSequenceNr, toSequenceNr, max, recoveryCallback));
    }

    private void Replay(string persistenceId, long from, long to, long max, Action<IPersistentRepresentation> callback)
    {
        // No overall timeout: a long replay is legitimate.
        using var connection = SqliteSchema.Open(_settings.ConnectionString, forWriting: false);
        using var command = connection.CreateCommand();
        command.CommandText = _replaySql;
        command.Parameters.Add("$pid", SqliteType.Text).Value = persistenceId;
        command.Parameters.Add("$from", SqliteType.Integer).Value = from;
        command.Parameters.Add("$to", SqliteType.Integer).Value = to;
        command.Parameters.Add("$max", SqliteType.Integer).Value = max;
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var manifest = reader.GetString(2);
            var payload = _system.Serialization.Deserialize(
                reader.GetFieldValue<byte[]>(4), reader.GetInt32(3), manifest);
            callback(new Persistent(
                payload, reader.GetInt64(0), persistenceId, manifest, false, ActorRefs.NoSender,
                reader.GetString(5), reader.GetInt64(1)));
        }
    }

    public override Task<long> ReadHighestSequenceNrAsync(
        string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        // Writes of this journal still queued may be the actor's own (a restart while persisting): wait for
        // them, or it would reuse their sequence numbers. A declared-new id with writes in flight is read too.
        if (_inFlight.TryGetValue(persistenceId, out var pending) && !pending.IsCompleted)
            return ReadHighestAfterAsync(pending, persistenceId, cancellationToken);
        if (_settings.TrustNewIdRecovery && NewIdRecovery.IsDeclaredNew(_cell, persistenceId))
            return NewIdRecovery.HighestOfNewId;
        return Task.Run(() => ReadHighest(persistenceId), cancellationToken);
    }

    private async Task<long> ReadHighestAfterAsync(Task pending, string persistenceId, CancellationToken cancellationToken)
    {
        try
        {
            await pending.WaitAsync(_settings.CallTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (pending.IsCompleted)
        {
            // its failure is reported to its writer
        }
        return await Task.Run(() => ReadHighest(persistenceId), cancellationToken).ConfigureAwait(false);
    }

    private void PruneCompletedWrites()
    {
        foreach (var entry in _inFlight)
            if (entry.Value.IsCompleted) _inFlight.TryRemove(entry);
        _pruneAt = Math.Max(MinPruneAt, _inFlight.Count * 2);
    }

    private long ReadHighest(string persistenceId)
    {
        using var connection = SqliteSchema.Open(_settings.ConnectionString, forWriting: false);
        using var command = connection.CreateCommand();
        command.CommandText = _highestSql;
        command.CommandTimeout = (int)Math.Ceiling(_settings.CallTimeout.TotalSeconds);
        command.Parameters.Add("$pid", SqliteType.Text).Value = persistenceId;
        return command.ExecuteScalar() is long highest ? highest : 0L;
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        // Through the writer, so that the deletion sees the writes queued before it and there is one writer.
        var request = new DeleteRequest(persistenceId, toSequenceNr);
        if (!_writer.TryEnqueue(request))
            return Task.FromException(new InvalidOperationException("The SQLite journal is stopping."));
        return request.Completion.Task;
    }

    /// <summary>Healthy while the circuit breaker is closed and the database file answers a read.</summary>
    public override Task<PersistenceHealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) =>
        SqliteSchema.ProbeUnlessBrokenAsync(base.CheckHealthAsync(cancellationToken), _settings.ConnectionString, _settings.CallTimeout, cancellationToken);
}

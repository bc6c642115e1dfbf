using System.Collections.Immutable;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>One event, serialized, ready to insert; <paramref name="Event"/> is the (unwrapped) payload object itself,
/// kept for the recent-commit tail that live queries of this process read (<see cref="SqliteJournalNotifications"/>).</summary>
internal readonly record struct JournalRow(
    string PersistenceId,
    long SequenceNr,
    long Timestamp,
    string Manifest,
    int SerializerId,
    byte[] Payload,
    string? Tags,
    string WriterUuid,
    object? Event = null);

/// <summary>Work for the writer loop; completed (after commit) through <see cref="Completion"/>.</summary>
internal abstract class WriterRequest
{
}

/// <summary>
/// The rows of one <c>WriteMessagesAsync</c> call (its serializable AtomicWrites, in order), written all or
/// nothing. <see cref="Results"/> is what the call returns on success: null, or the rejections of the
/// AtomicWrites that could not be serialized.
/// </summary>
internal sealed class WriteRequest(JournalRow[] rows, int rowCount, int atomicWriteCount, IImmutableList<Exception?>? results)
    : WriterRequest
{
    public readonly JournalRow[] Rows = rows;
    public readonly int RowCount = rowCount;
    public readonly int AtomicWriteCount = atomicWriteCount;
    public readonly IImmutableList<Exception?>? Results = results;

    public readonly TaskCompletionSource<IImmutableList<Exception?>> Completion =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Succeed() => Completion.TrySetResult(Results!);

    public void Fail(Exception e) => Completion.TrySetException(e);
}

/// <summary>Deletes a persistence id's events up to a sequence number, keeping its highest sequence number.</summary>
internal sealed class DeleteRequest(string persistenceId, long toSequenceNr) : WriterRequest
{
    public readonly string PersistenceId = persistenceId;
    public readonly long ToSequenceNr = toSequenceNr;
    public readonly TaskCompletionSource Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// The journal's only writer: one long-lived connection and one thread that drains a channel of requests
/// and commits whatever has accumulated (up to max-batch-size AtomicWrites) in one transaction (group
/// commit), with one prepared INSERT whose parameters are re-bound for every row.
/// </summary>
/// <remarks>
/// One writer because SQLite has one write lock per database anyway: several writer connections would only
/// queue on it (and retry on SQLITE_BUSY), while one transaction for many callers pays the commit once.
/// A dedicated thread because Microsoft.Data.Sqlite's calls are synchronous: commits would otherwise block
/// thread-pool threads.
/// </remarks>
internal sealed class SqliteJournalWriter : IDisposable
{
    private const int SqliteConstraintPrimaryKey = 1555;
    private const int SqliteConstraintUnique = 2067;

    private readonly SqliteJournalSettings _settings;
    private readonly Channel<WriterRequest> _channel = Channel.CreateUnbounded<WriterRequest>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteParameter _pPersistenceId, _pSequenceNr, _pTimestamp, _pManifest, _pSerializerId,
        _pPayload, _pTags, _pWriterUuid;
    private readonly SqliteCommand _recordHighest;
    private readonly SqliteCommand _delete;
    private readonly SqliteJournalNotifications _notifications;
    private Thread? _thread;

    private long _transactions;
    private long _isolatedRetries;
    // The rows of the transaction being committed, with their orderings: handed to the recent-commit tail once committed.
    private readonly List<RecentEvent> _committing = new(64);

    /// <summary>Opens the writer connection (and creates the tables when auto-initialize is on).</summary>
    public SqliteJournalWriter(SqliteJournalSettings settings)
    {
        _settings = settings;
        _notifications = SqliteJournalNotifications.For(settings.ConnectionString);
        _connection = new SqliteConnection(settings.ConnectionString);
        try
        {
            // WAL: readers on other connections run beside the writer and see every committed write.
            SqliteSchema.EnsureWal(settings.ConnectionString);
            _connection.Open();
            SqliteSchema.ApplyConnectionPragmas(_connection);
            if (settings.AutoInitialize)
                Execute(_connection, SqliteSchema.JournalTables(settings.TableName, settings.MetadataTableName));

            var journal = SqliteSchema.Quote(settings.TableName);
            var metadata = SqliteSchema.Quote(settings.MetadataTableName);
            _insert = _connection.CreateCommand();
            _insert.CommandText =
                $"INSERT INTO {journal} (persistence_id, sequence_nr, timestamp, manifest, serializer_id, payload, tags, writer_uuid) " +
                "VALUES ($pid, $seq, $ts, $manifest, $sid, $payload, $tags, $writer);";
            _pPersistenceId = _insert.Parameters.Add("$pid", SqliteType.Text);
            _pSequenceNr = _insert.Parameters.Add("$seq", SqliteType.Integer);
            _pTimestamp = _insert.Parameters.Add("$ts", SqliteType.Integer);
            _pManifest = _insert.Parameters.Add("$manifest", SqliteType.Text);
            _pSerializerId = _insert.Parameters.Add("$sid", SqliteType.Integer);
            _pPayload = _insert.Parameters.Add("$payload", SqliteType.Blob);
            _pTags = _insert.Parameters.Add("$tags", SqliteType.Text);
            _pWriterUuid = _insert.Parameters.Add("$writer", SqliteType.Text);
            _insert.Prepare();

            // Keep the highest sequence number in metadata before deleting, so that it survives the deletion of
            // every event (the WHERE is required by SQLite's upsert-after-SELECT grammar).
            _recordHighest = _connection.CreateCommand();
            _recordHighest.CommandText =
                $"INSERT INTO {metadata} (persistence_id, sequence_nr) " +
                $"SELECT $pid, MAX(sequence_nr) FROM {journal} WHERE persistence_id = $pid HAVING MAX(sequence_nr) IS NOT NULL " +
                "ON CONFLICT (persistence_id) DO UPDATE SET sequence_nr = MAX(sequence_nr, excluded.sequence_nr);";
            _recordHighest.Parameters.Add("$pid", SqliteType.Text);

            _delete = _connection.CreateCommand();
            _delete.CommandText = $"DELETE FROM {journal} WHERE persistence_id = $pid AND sequence_nr <= $to;";
            _delete.Parameters.Add("$pid", SqliteType.Text);
            _delete.Parameters.Add("$to", SqliteType.Integer);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>Transactions committed so far (a batch, or a request retried alone).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Batches whose transaction failed and whose requests were retried one by one.</summary>
    public long IsolatedRetries => Interlocked.Read(ref _isolatedRetries);

    /// <summary>Starts the writer loop. Requests enqueued before are committed by its first batches.</summary>
    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "sqlite-journal-writer" };
        _thread.Start();
    }

    /// <summary>Queues a request; false once the writer is stopping.</summary>
    public bool TryEnqueue(WriterRequest request) => _channel.Writer.TryWrite(request);

    /// <summary>
    /// Stops accepting requests, lets the loop commit what is queued and waits for it (up to
    /// <paramref name="timeout"/>). The loop closes the connection when it ends.
    /// </summary>
    public bool Stop(TimeSpan timeout)
    {
        _channel.Writer.TryComplete();
        if (_thread is null)
        {
            DisposeConnection();
            return true;
        }
        return _stopped.Task.Wait(timeout);
    }

    public void Dispose() => Stop(_settings.CallTimeout);

    private void Run()
    {
        var batch = new List<WriteRequest>(64);
        try
        {
            var reader = _channel.Reader;
            while (WaitToRead(reader))
            {
                var atomicWrites = 0;
                while (atomicWrites < _settings.MaxBatchSize && reader.TryRead(out var request))
                {
                    if (request is WriteRequest write)
                    {
                        batch.Add(write);
                        atomicWrites += write.AtomicWriteCount;
                        continue;
                    }

                    // A delete sees every write queued before it.
                    CommitBatch(batch);
                    atomicWrites = 0;
                    Delete((DeleteRequest)request);
                }
                CommitBatch(batch);
            }
        }
        catch (Exception e)
        {
            // Not expected (each request's failure is caught): fail what is left rather than hang its callers.
            FailAll(batch, e);
            _channel.Writer.TryComplete();
            while (_channel.Reader.TryRead(out var request)) Fail(request, e);
        }
        finally
        {
            DisposeConnection();
            _stopped.TrySetResult();
        }
    }

    private static bool WaitToRead(ChannelReader<WriterRequest> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// Commits the batch in one transaction and completes its callers. If the transaction fails, it is rolled
    /// back and each request is retried in its own transaction, so that only the faulty ones fail.
    /// </summary>
    private void CommitBatch(List<WriteRequest> batch)
    {
        if (batch.Count == 0) return;
        Exception? batchFailure = null;
        try
        {
            _committing.Clear();
            using (var tx = _connection.BeginTransaction())
            {
                _insert.Transaction = tx;
                for (var i = 0; i < batch.Count; i++) Insert(batch[i]);
                tx.Commit();
            }
            Interlocked.Increment(ref _transactions);
            NotifyCommitted();
        }
        catch (Exception e)
        {
            batchFailure = e;
        }

        if (batchFailure is null)
        {
            for (var i = 0; i < batch.Count; i++) batch[i].Succeed();
        }
        else if (batch.Count == 1)
        {
            batch[0].Fail(Describe(batchFailure, batch[0]));
        }
        else
        {
            Interlocked.Increment(ref _isolatedRetries);
            for (var i = 0; i < batch.Count; i++) CommitAlone(batch[i]);
        }
        batch.Clear();
    }

    private void CommitAlone(WriteRequest request)
    {
        try
        {
            _committing.Clear();
            using (var tx = _connection.BeginTransaction())
            {
                _insert.Transaction = tx;
                Insert(request);
                tx.Commit();
            }
            Interlocked.Increment(ref _transactions);
            NotifyCommitted();
        }
        catch (Exception e)
        {
            request.Fail(Describe(e, request));
            return;
        }
        request.Succeed();
    }

    /// <summary>
    /// Tells live queries of this process that rows were committed, with the highest ordering committed: the
    /// rowid of the transaction's last insert (sqlite3_last_insert_rowid, no SQL statement). Called right after a
    /// commit of inserts; never throws (see <see cref="SqliteJournalNotifications.Committed"/>).
    /// </summary>
    private void NotifyCommitted()
    {
        try
        {
            _notifications.Committed(SQLitePCL.raw.sqlite3_last_insert_rowid(_connection.Handle), _committing);
        }
        catch (Exception)
        {
            // a notification is an optimisation: live queries poll anyway
        }
    }

    private void Insert(WriteRequest request)
    {
        var rows = request.Rows;
        for (var i = 0; i < request.RowCount; i++)
        {
            ref readonly var row = ref rows[i];
            _pPersistenceId.Value = row.PersistenceId;
            _pSequenceNr.Value = row.SequenceNr;
            _pTimestamp.Value = row.Timestamp;
            _pManifest.Value = row.Manifest;
            _pSerializerId.Value = row.SerializerId;
            _pPayload.Value = row.Payload;
            _pTags.Value = (object?)row.Tags ?? DBNull.Value;
            _pWriterUuid.Value = row.WriterUuid;
            _insert.ExecuteNonQuery();
            _committing.Add(new RecentEvent(SQLitePCL.raw.sqlite3_last_insert_rowid(_connection.Handle), row.PersistenceId,
                row.SequenceNr, row.Timestamp, row.Event, row.Tags));
        }
    }

    private void Delete(DeleteRequest request)
    {
        try
        {
            using (var tx = _connection.BeginTransaction())
            {
                _recordHighest.Transaction = tx;
                _recordHighest.Parameters[0].Value = request.PersistenceId;
                _recordHighest.ExecuteNonQuery();
                _delete.Transaction = tx;
                _delete.Parameters[0].Value = request.PersistenceId;
                _delete.Parameters[1].Value = request.ToSequenceNr;
                _delete.ExecuteNonQuery();
                tx.Commit();
            }
            Interlocked.Increment(ref _transactions);
            // Deleted events must not be served from the recent-commit tail any more.
            _notifications.ForgetRecent();
        }
        catch (Exception e)
        {
            request.Completion.TrySetException(e);
            return;
        }
        request.Completion.TrySetResult();
    }

    /// <summary>A duplicate key becomes a <see cref="DuplicateSequenceNumberException"/> naming the write.</summary>
    private static Exception Describe(Exception e, WriteRequest request)
    {
        if (e is SqliteException { SqliteExtendedErrorCode: SqliteConstraintPrimaryKey or SqliteConstraintUnique }
            && request.RowCount > 0)
        {
            var first = request.Rows[0];
            var last = request.Rows[request.RowCount - 1];
            return new DuplicateSequenceNumberException(
                $"A write of persistence id '{first.PersistenceId}' (sequence numbers {first.SequenceNr}..{last.SequenceNr}) " +
                "collides with an event already in the journal.", e);
        }
        return e;
    }

    private static void FailAll(List<WriteRequest> batch, Exception e)
    {
        foreach (var request in batch) request.Fail(e);
        batch.Clear();
    }

    private static void Fail(WriterRequest request, Exception e)
    {
        switch (request)
        {
            case WriteRequest w: w.Fail(e); break;
            case DeleteRequest d: d.Completion.TrySetException(e); break;
        }
    }

    private void DisposeConnection()
    {
        _insert.Dispose();
        _recordHighest.Dispose();
        _delete.Dispose();
        _connection.Dispose();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

/// <summary>An event with the same persistence id and sequence number is already in the journal.</summary>
public sealed class DuplicateSequenceNumberException(string message, Exception inner) : Exception(message, inner);

using System.Text.Json;
using AkkaMail.Erasure;
using AkkaMail.Serialization;

namespace AkkaMail.Stores.Sqlite;

/// <summary>Erasure records in the read model's file: one row per request, the record as JSON (no address in it).</summary>
public sealed class SqliteErasureStore(SqliteDatabase db) : IErasureStore
{
    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS erasures (
                id TEXT PRIMARY KEY, completed INTEGER NOT NULL, requested_at INTEGER NOT NULL, doc BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS ix_erasures_pending ON erasures(requested_at, id) WHERE completed = 0;
            """, ct);
    }

    public async Task SaveAsync(ErasureRecord record, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO erasures (id, completed, requested_at, doc) VALUES ($id, $done, $at, $doc)
            ON CONFLICT(id) DO UPDATE SET completed = excluded.completed, doc = excluded.doc
            """;
        cmd.Parameters.AddWithValue("$id", record.Id);
        cmd.Parameters.AddWithValue("$done", record.IsCompleted ? 1 : 0);
        cmd.Parameters.AddWithValue("$at", record.RequestedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$doc", JsonSerializer.SerializeToUtf8Bytes(record, EmailEventSerializer.Json));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<ErasureRecord?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT doc FROM erasures WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? JsonSerializer.Deserialize<ErasureRecord>(r.GetFieldValue<byte[]>(0), EmailEventSerializer.Json) : null;
    }

    public async Task<IReadOnlyList<ErasureRecord>> ListPendingAsync(int limit, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT doc FROM erasures WHERE completed = 0 ORDER BY requested_at, id LIMIT $limit";
        cmd.Parameters.AddWithValue("$limit", limit);
        var list = new List<ErasureRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(JsonSerializer.Deserialize<ErasureRecord>(r.GetFieldValue<byte[]>(0), EmailEventSerializer.Json)!);
        return list;
    }
}

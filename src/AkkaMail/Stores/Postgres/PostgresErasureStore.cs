using System.Text.Json;
using AkkaMail.Erasure;
using AkkaMail.Serialization;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>Erasure records in PostgreSQL: table <c>erasures</c>, the record as JSON bytes (no address in it).</summary>
public sealed class PostgresErasureStore(PostgresDatabase db) : IErasureStore
{
    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public async Task SaveAsync(ErasureRecord record, CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            INSERT INTO erasures (id, completed, requested_at, doc) VALUES (@id, @done, @at, @doc)
            ON CONFLICT (id) DO UPDATE SET completed = excluded.completed, doc = excluded.doc
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", record.Id, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("done", record.IsCompleted, NpgsqlDbType.Boolean));
        cmd.Parameters.Add(PostgresDatabase.Parameter("at", record.RequestedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("doc", JsonSerializer.SerializeToUtf8Bytes(record, EmailEventSerializer.Json), NpgsqlDbType.Bytea));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<ErasureRecord?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT doc FROM erasures WHERE id = @id");
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", id, NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? JsonSerializer.Deserialize<ErasureRecord>(r.GetFieldValue<byte[]>(0), EmailEventSerializer.Json) : null;
    }

    public async Task<IReadOnlyList<ErasureRecord>> ListPendingAsync(int limit, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT doc FROM erasures WHERE NOT completed ORDER BY requested_at, id LIMIT @limit");
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var list = new List<ErasureRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(JsonSerializer.Deserialize<ErasureRecord>(r.GetFieldValue<byte[]>(0), EmailEventSerializer.Json)!);
        return list;
    }
}

using AkkaMail.Domain;
using AkkaMail.Suppressions;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// Suppression lists in PostgreSQL (written by the read-side projection, deleted by a lift) and the lifts, kept so that
/// replaying the journal does not bring back a suppression lifted after its event. No cache in front of the table
/// (unlike the embedded SQLite store): several service processes may share the database, and none of them is its only
/// writer. A lookup of an email's recipients is one indexed query on the primary key.
/// </summary>
public sealed class PostgresSuppressionStore(PostgresDatabase db) : ISuppressionStore
{
    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public async Task AddAsync(string userId, Suppression s, CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            INSERT INTO suppressions (user_id, address, reason, created_at, email_id) VALUES (@u, @a, @r, @t, @e)
            ON CONFLICT (user_id, address) DO NOTHING
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("a", Addresses.Normalize(s.Address), NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("r", s.Reason, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("t", s.CreatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("e", s.EmailId, NpgsqlDbType.Text));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<Suppression?> GetAsync(string userId, string address, CancellationToken ct = default) =>
        (await QueryAsync("user_id = @u AND address = @a", 1, cmd =>
        {
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("a", Addresses.Normalize(address), NpgsqlDbType.Text));
        }, ct)).FirstOrDefault();

    /// <summary>Deletes the suppression and records the lift, in one transaction.</summary>
    public async Task<bool> RemoveAsync(string userId, string address, CancellationToken ct = default)
    {
        var normalized = Addresses.Normalize(address);
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(c, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("DELETE FROM suppressions WHERE user_id = @u AND address = @a")
                {
                    Parameters =
                    {
                        PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text),
                        PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text),
                    },
                },
                new NpgsqlBatchCommand("""
                    INSERT INTO suppression_lifts (user_id, address, lifted_at) VALUES (@u, @a, @t)
                    ON CONFLICT (user_id, address) DO UPDATE SET lifted_at = excluded.lifted_at
                    """)
                {
                    Parameters =
                    {
                        PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text),
                        PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text),
                        PostgresDatabase.Parameter("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    },
                },
            },
        };
        await batch.ExecuteNonQueryAsync(ct);
        var removed = batch.BatchCommands[0].RecordsAffected > 0;
        await tx.CommitAsync(ct);
        return removed;
    }

    public async Task<int> HashAsync(string? userId, string address, CancellationToken ct = default)
    {
        var normalized = Addresses.Normalize(address);
        var scope = userId is null ? "" : " AND user_id = @u";
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        var found = new List<(string User, string Reason, long At)>();
        await using (var select = new NpgsqlCommand("SELECT user_id, reason, created_at FROM suppressions WHERE address = @a" + scope + " FOR UPDATE", c, tx))
        {
            select.Parameters.Add(PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text));
            if (userId is not null) select.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            await using var r = await select.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) found.Add((r.GetString(0), r.GetString(1), r.GetInt64(2)));
        }
        foreach (var (user, reason, at) in found)
        {
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO suppressions (user_id, address, reason, created_at, email_id) VALUES (@u, @h, @r, @t, NULL)
                ON CONFLICT (user_id, address) DO NOTHING;
                DELETE FROM suppressions WHERE user_id = @u AND address = @a;
                """, c, tx);
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", user, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("h", Erasure.AddressHashes.Of(user, normalized), NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("r", reason, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("t", at, NpgsqlDbType.Bigint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await using (var lifts = new NpgsqlCommand("DELETE FROM suppression_lifts WHERE address = @a" + scope, c, tx))
        {
            lifts.Parameters.Add(PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text));
            if (userId is not null) lifts.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            await lifts.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return found.Count;
    }

    public Task<IReadOnlyList<Suppression>> ListAsync(string userId, int limit, string? after, CancellationToken ct = default) =>
        QueryAsync("user_id = @u AND address > @after", limit, cmd =>
        {
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("after", after ?? "", NpgsqlDbType.Text));
        }, ct);

    public async Task<IReadOnlyDictionary<string, string>> FindAsync(string userId, IEnumerable<string> addresses, CancellationToken ct = default)
    {
        var wanted = addresses.Select(Addresses.Normalize).Distinct().ToArray();
        var found = new Dictionary<string, string>();
        if (wanted.Length == 0) return found;
        await using var cmd = db.Command("SELECT address, reason FROM suppressions WHERE user_id = @u AND address = ANY (@a)");
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("a", wanted, NpgsqlDbType.Array | NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found[r.GetString(0)] = r.GetString(1);
        return found;
    }

    private async Task<IReadOnlyList<Suppression>> QueryAsync(string where, int limit, Action<NpgsqlCommand> bind, CancellationToken ct)
    {
        await using var cmd = db.Command($"SELECT address, reason, created_at, email_id FROM suppressions WHERE {where} ORDER BY address LIMIT @limit");
        bind(cmd);
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var list = new List<Suppression>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new Suppression(r.GetString(0), r.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
                r.IsDBNull(3) ? null : r.GetString(3)));
        return list;
    }
}

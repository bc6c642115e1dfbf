using System.Text.Json;
using AkkaMail.Statistics;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// Statistics in the stores' PostgreSQL database: counts in <c>stats_counts</c>, latency histograms in
/// <c>stats_latency</c>, the emails' facts in <c>stats_emails</c>, uniqueness keys in <c>stats_seen</c>, the offset in
/// <c>projection_offsets</c>; a batch and its offset in one transaction. Times are Unix milliseconds.
/// </summary>
public sealed class PostgresStatisticsStore(PostgresDatabase db) : IStatisticsStore
{
    private readonly AsyncOnce _init = new();

    public static readonly string Script = $"""
        CREATE TABLE IF NOT EXISTS stats_counts (
            bucket smallint NOT NULL, start bigint NOT NULL, user_id text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL,
            {string.Join(", ", StatsCounters.Columns.Select(n => $"{n} bigint NOT NULL DEFAULT 0"))},
            PRIMARY KEY (bucket, user_id, tag, start));
        CREATE INDEX IF NOT EXISTS ix_stats_counts_all_users ON stats_counts (bucket, tag, start);
        CREATE TABLE IF NOT EXISTS stats_latency (
            bucket smallint NOT NULL, start bigint NOT NULL, user_id text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL,
            bin smallint NOT NULL, n bigint NOT NULL, PRIMARY KEY (bucket, user_id, tag, start, bin));
        CREATE INDEX IF NOT EXISTS ix_stats_latency_all_users ON stats_latency (bucket, tag, start);
        CREATE TABLE IF NOT EXISTS stats_emails (
            email_id text COLLATE "C" PRIMARY KEY, user_id text COLLATE "C" NOT NULL, tags text NOT NULL, recipients integer NOT NULL,
            attempt_started_at bigint NULL, sent boolean NOT NULL);
        CREATE TABLE IF NOT EXISTS stats_seen (key text COLLATE "C" PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS projection_offsets (name text PRIMARY KEY, ordering bigint NOT NULL, updated_at bigint NOT NULL);
        """;

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        await db.EnsureSchemaAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        // The same lock as the stores' schema: one creator at a time across the nodes of a cluster.
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('akkamail-stores-schema'))", c, tx))
            await lockCommand.ExecuteNonQueryAsync(ct);
        await using (var ddl = new NpgsqlCommand(Script, c, tx))
            await ddl.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    public async Task<long> LoadOffsetAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var cmd = db.Command("SELECT ordering FROM projection_offsets WHERE name = @n");
        cmd.Parameters.AddWithValue("n", StatisticsProjection.Name);
        return await cmd.ExecuteScalarAsync(ct) is long o ? o : 0;
    }

    public async Task<IReadOnlyDictionary<string, EmailFacts>> LoadFactsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, EmailFacts>(StringComparer.Ordinal);
        if (emailIds.Count == 0) return found;
        await InitializeAsync(ct);
        await using var cmd = db.Command(
            "SELECT email_id, user_id, tags, recipients, attempt_started_at, sent FROM stats_emails WHERE email_id = ANY(@ids)");
        cmd.Parameters.Add(PostgresDatabase.Parameter("ids", emailIds.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            found[r.GetString(0)] = new EmailFacts(r.GetString(0), r.GetString(1), JsonSerializer.Deserialize<string[]>(r.GetString(2)) ?? [],
                r.GetInt32(3), r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.GetBoolean(5));
        return found;
    }

    public async Task<IReadOnlySet<string>> SeenAsync(IReadOnlyCollection<string> keys, CancellationToken ct = default)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        if (keys.Count == 0) return found;
        await InitializeAsync(ct);
        await using var cmd = db.Command("SELECT key FROM stats_seen WHERE key = ANY(@keys)");
        cmd.Parameters.Add(PostgresDatabase.Parameter("keys", keys.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add(r.GetString(0));
        return found;
    }

    public async Task StoreAsync(StatisticsBatch batch, long offset, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        var cols = StatsCounters.Columns;
        // Each table's rows in one statement (arrays unnested): a batch costs a handful of round trips, whatever its size.
        if (batch.Counts.Count > 0)
        {
            var keys = batch.Counts.Keys.ToArray();
            await using var cmd = new NpgsqlCommand($"""
                INSERT INTO stats_counts (bucket, start, user_id, tag, {string.Join(", ", cols)})
                SELECT * FROM unnest(@b, @s, @u, @t, {string.Join(", ", cols.Select(n => "@" + n))})
                ON CONFLICT (bucket, user_id, tag, start) DO UPDATE SET {string.Join(", ", cols.Select(n => $"{n} = stats_counts.{n} + excluded.{n}"))}
                """, c, tx);
            cmd.Parameters.Add(PostgresDatabase.Parameter("b", keys.Select(k => (short)k.Bucket).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Smallint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("s", keys.Select(k => k.Start.ToUnixTimeMilliseconds()).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", keys.Select(k => k.UserId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("t", keys.Select(k => k.Tag).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            for (var i = 0; i < cols.Length; i++)
                cmd.Parameters.Add(PostgresDatabase.Parameter(cols[i], keys.Select(k => batch.Counts[k][i]).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        if (batch.Latency.Count > 0)
        {
            var keys = batch.Latency.Keys.ToArray();
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO stats_latency (bucket, start, user_id, tag, bin, n) SELECT * FROM unnest(@b, @s, @u, @t, @bin, @n)
                ON CONFLICT (bucket, user_id, tag, start, bin) DO UPDATE SET n = stats_latency.n + excluded.n
                """, c, tx);
            cmd.Parameters.Add(PostgresDatabase.Parameter("b", keys.Select(k => (short)k.Bucket).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Smallint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("s", keys.Select(k => k.Start.ToUnixTimeMilliseconds()).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", keys.Select(k => k.UserId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("t", keys.Select(k => k.Tag).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("bin", keys.Select(k => (short)k.Bin).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Smallint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("n", keys.Select(k => batch.Latency[k]).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        if (batch.Facts.Count > 0)
        {
            var f = batch.Facts;
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO stats_emails (email_id, user_id, tags, recipients, attempt_started_at, sent)
                SELECT * FROM unnest(@id, @u, @tags, @r, @a, @sent)
                ON CONFLICT (email_id) DO UPDATE SET attempt_started_at = excluded.attempt_started_at, sent = excluded.sent
                """, c, tx);
            cmd.Parameters.Add(PostgresDatabase.Parameter("id", f.Select(x => x.EmailId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("u", f.Select(x => x.UserId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("tags", f.Select(x => JsonSerializer.Serialize(x.Tags)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            cmd.Parameters.Add(PostgresDatabase.Parameter("r", f.Select(x => x.Recipients).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer));
            cmd.Parameters.Add(PostgresDatabase.Parameter("a", f.Select(x => x.AttemptStartedAt?.ToUnixTimeMilliseconds()).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("sent", f.Select(x => x.Sent).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Boolean));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        if (batch.FirstSeen.Count > 0)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO stats_seen (key) SELECT * FROM unnest(@k) ON CONFLICT DO NOTHING", c, tx);
            cmd.Parameters.Add(PostgresDatabase.Parameter("k", batch.FirstSeen.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO projection_offsets (name, ordering, updated_at) VALUES (@n, @o, @t)
            ON CONFLICT (name) DO UPDATE SET ordering = excluded.ordering, updated_at = excluded.updated_at
            """, c, tx))
        {
            cmd.Parameters.AddWithValue("n", StatisticsProjection.Name);
            cmd.Parameters.AddWithValue("o", offset);
            cmd.Parameters.AddWithValue("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    public async Task<StatsResult> QueryAsync(StatsQuery query, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        var byUser = query.UserId is null ? "" : " AND user_id = @u";
        var rows = new List<StatsRow>();
        await using (var cmd = db.Command($"""
            SELECT start, {string.Join(", ", StatsCounters.Columns.Select(n => $"SUM({n})::bigint"))} FROM stats_counts
            WHERE bucket = @b AND tag = @t AND start >= @from AND start < @to{byUser} GROUP BY start ORDER BY start
            """))
        {
            Bind(cmd, query, query.Bucket);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var counts = new long[StatsCounters.Count];
                for (var i = 0; i < counts.Length; i++) counts[i] = r.GetInt64(i + 1);
                rows.Add(new StatsRow(DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0)), counts));
            }
        }
        var latency = new List<LatencyRow>();
        await using (var cmd = db.Command($"""
            SELECT start, bin, SUM(n)::bigint FROM stats_latency
            WHERE bucket = @b AND tag = @t AND start >= @from AND start < @to{byUser} GROUP BY start, bin ORDER BY start
            """))
        {
            Bind(cmd, query, Sqlite.SqliteStatisticsStore.LatencyBucketOf(query.Bucket));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var start = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0));
                if (latency.Count == 0 || latency[^1].Start != start) latency.Add(new LatencyRow(start, new long[LatencyBins.Count]));
                latency[^1].Bins[r.GetInt16(1)] += r.GetInt64(2);
            }
        }
        return new StatsResult(rows, latency);
    }

    private static void Bind(NpgsqlCommand cmd, StatsQuery query, StatsBucket bucket)
    {
        cmd.Parameters.AddWithValue("b", (short)bucket);
        cmd.Parameters.AddWithValue("t", query.Tag);
        cmd.Parameters.AddWithValue("from", StatsBuckets.StartOf(bucket, query.From).ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("to", query.To.ToUnixTimeMilliseconds());
        if (query.UserId is not null) cmd.Parameters.AddWithValue("u", query.UserId);
    }

    public async Task PruneAsync(DateTimeOffset minutesBefore, DateTimeOffset hoursBefore, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var cmd = db.Command("""
            DELETE FROM stats_counts WHERE bucket = 0 AND start < @m;
            DELETE FROM stats_counts WHERE bucket = 1 AND start < @h;
            DELETE FROM stats_latency WHERE bucket = 1 AND start < @h;
            """);
        cmd.Parameters.AddWithValue("m", minutesBefore.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("h", hoursBefore.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

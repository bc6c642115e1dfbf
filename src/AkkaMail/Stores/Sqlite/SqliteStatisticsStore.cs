using System.Text.Json;
using AkkaMail.Statistics;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// Statistics in the read-model database: counts per (bucket width, user, tag, bucket start) in <c>stats_counts</c>,
/// latency histograms in <c>stats_latency</c>, the emails' facts in <c>stats_emails</c>, the uniqueness keys in
/// <c>stats_seen</c>, and the projection's offset in <c>projection_offsets</c>, all written in one transaction per batch.
/// Times are Unix milliseconds.
/// </summary>
public sealed class SqliteStatisticsStore(SqliteDatabase db) : IStatisticsStore
{
    private const int InChunk = 500;
    private readonly AsyncOnce _init = new();

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        var counters = string.Join(", ", StatsCounters.Columns.Select(n => $"{n} INTEGER NOT NULL DEFAULT 0"));
        await SqliteDatabase.ExecAsync(c, $"""
            CREATE TABLE IF NOT EXISTS stats_counts (
                bucket INTEGER NOT NULL, start INTEGER NOT NULL, user_id TEXT NOT NULL, tag TEXT NOT NULL, {counters},
                PRIMARY KEY (bucket, user_id, tag, start)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_stats_counts_all_users ON stats_counts (bucket, tag, start);
            CREATE TABLE IF NOT EXISTS stats_latency (
                bucket INTEGER NOT NULL, start INTEGER NOT NULL, user_id TEXT NOT NULL, tag TEXT NOT NULL, bin INTEGER NOT NULL,
                n INTEGER NOT NULL, PRIMARY KEY (bucket, user_id, tag, start, bin)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_stats_latency_all_users ON stats_latency (bucket, tag, start);
            CREATE TABLE IF NOT EXISTS stats_emails (
                email_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, tags TEXT NOT NULL, recipients INTEGER NOT NULL,
                attempt_started_at INTEGER NULL, sent INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS stats_seen (key TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS projection_offsets (name TEXT PRIMARY KEY, offset INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            """, ct);
    }

    public async Task<long> LoadOffsetAsync(CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT offset FROM projection_offsets WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", StatisticsProjection.Name);
        return await cmd.ExecuteScalarAsync(ct) is long o ? o : 0;
    }

    public async Task<IReadOnlyDictionary<string, EmailFacts>> LoadFactsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        var found = new Dictionary<string, EmailFacts>(StringComparer.Ordinal);
        if (emailIds.Count == 0) return found;
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        foreach (var chunk in emailIds.Chunk(InChunk))
        {
            await using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT email_id, user_id, tags, recipients, attempt_started_at, sent FROM stats_emails WHERE email_id IN ({In(cmd, chunk)})";
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
                found[r.GetString(0)] = new EmailFacts(r.GetString(0), r.GetString(1), JsonSerializer.Deserialize<string[]>(r.GetString(2)) ?? [],
                    r.GetInt32(3), r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.GetInt64(5) != 0);
        }
        return found;
    }

    public async Task<IReadOnlySet<string>> SeenAsync(IReadOnlyCollection<string> keys, CancellationToken ct = default)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        if (keys.Count == 0) return found;
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        foreach (var chunk in keys.Chunk(InChunk))
        {
            await using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT key FROM stats_seen WHERE key IN ({In(cmd, chunk)})";
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) found.Add(r.GetString(0));
        }
        return found;
    }

    private static string In(SqliteCommand cmd, IReadOnlyList<string> values)
    {
        var names = new string[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            names[i] = "$p" + i;
            cmd.Parameters.AddWithValue(names[i], values[i]);
        }
        return string.Join(",", names);
    }

    public async Task StoreAsync(StatisticsBatch batch, long offset, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        if (batch.Counts.Count > 0)
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            var cols = StatsCounters.Columns;
            cmd.CommandText = $"""
                INSERT INTO stats_counts (bucket, start, user_id, tag, {string.Join(", ", cols)})
                VALUES ($b, $s, $u, $t, {string.Join(", ", cols.Select(n => "$" + n))})
                ON CONFLICT (bucket, user_id, tag, start) DO UPDATE SET {string.Join(", ", cols.Select(n => $"{n} = {n} + excluded.{n}"))}
                """;
            var b = cmd.Parameters.Add("$b", SqliteType.Integer);
            var s = cmd.Parameters.Add("$s", SqliteType.Integer);
            var u = cmd.Parameters.Add("$u", SqliteType.Text);
            var t = cmd.Parameters.Add("$t", SqliteType.Text);
            var values = cols.Select(n => cmd.Parameters.Add("$" + n, SqliteType.Integer)).ToArray();
            foreach (var (key, row) in batch.Counts)
            {
                b.Value = (int)key.Bucket;
                s.Value = key.Start.ToUnixTimeMilliseconds();
                u.Value = key.UserId;
                t.Value = key.Tag;
                for (var i = 0; i < values.Length; i++) values[i].Value = row[i];
                await cmd.ExecuteNonQueryAsync(ct);
            }
        }
        if (batch.Latency.Count > 0)
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO stats_latency (bucket, start, user_id, tag, bin, n) VALUES ($b, $s, $u, $t, $bin, $n)
                ON CONFLICT (bucket, user_id, tag, start, bin) DO UPDATE SET n = n + excluded.n
                """;
            var b = cmd.Parameters.Add("$b", SqliteType.Integer);
            var s = cmd.Parameters.Add("$s", SqliteType.Integer);
            var u = cmd.Parameters.Add("$u", SqliteType.Text);
            var t = cmd.Parameters.Add("$t", SqliteType.Text);
            var bin = cmd.Parameters.Add("$bin", SqliteType.Integer);
            var n = cmd.Parameters.Add("$n", SqliteType.Integer);
            foreach (var (key, count) in batch.Latency)
            {
                b.Value = (int)key.Bucket;
                s.Value = key.Start.ToUnixTimeMilliseconds();
                u.Value = key.UserId;
                t.Value = key.Tag;
                bin.Value = key.Bin;
                n.Value = count;
                await cmd.ExecuteNonQueryAsync(ct);
            }
        }
        if (batch.Facts.Count > 0)
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO stats_emails (email_id, user_id, tags, recipients, attempt_started_at, sent) VALUES ($id, $u, $tags, $r, $a, $sent)
                ON CONFLICT (email_id) DO UPDATE SET attempt_started_at = excluded.attempt_started_at, sent = excluded.sent
                """;
            var id = cmd.Parameters.Add("$id", SqliteType.Text);
            var u = cmd.Parameters.Add("$u", SqliteType.Text);
            var tags = cmd.Parameters.Add("$tags", SqliteType.Text);
            var r = cmd.Parameters.Add("$r", SqliteType.Integer);
            var a = cmd.Parameters.Add("$a", SqliteType.Integer);
            var sent = cmd.Parameters.Add("$sent", SqliteType.Integer);
            foreach (var f in batch.Facts)
            {
                id.Value = f.EmailId;
                u.Value = f.UserId;
                tags.Value = JsonSerializer.Serialize(f.Tags);
                r.Value = f.Recipients;
                a.Value = f.AttemptStartedAt is { } at ? at.ToUnixTimeMilliseconds() : DBNull.Value;
                sent.Value = f.Sent ? 1 : 0;
                await cmd.ExecuteNonQueryAsync(ct);
            }
        }
        if (batch.FirstSeen.Count > 0)
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO stats_seen (key) VALUES ($k)";
            var k = cmd.Parameters.Add("$k", SqliteType.Text);
            foreach (var key in batch.FirstSeen)
            {
                k.Value = key;
                await cmd.ExecuteNonQueryAsync(ct);
            }
        }
        await using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO projection_offsets (name, offset, updated_at) VALUES ($n, $o, $t)
                ON CONFLICT (name) DO UPDATE SET offset = excluded.offset, updated_at = excluded.updated_at
                """;
            cmd.Parameters.AddWithValue("$n", StatisticsProjection.Name);
            cmd.Parameters.AddWithValue("$o", offset);
            cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    public async Task<StatsResult> QueryAsync(StatsQuery query, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        var byUser = query.UserId is null ? "" : " AND user_id = $u";
        var rows = new List<StatsRow>();
        await using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = $"""
                SELECT start, {string.Join(", ", StatsCounters.Columns.Select(n => $"SUM({n})"))} FROM stats_counts
                WHERE bucket = $b AND tag = $t AND start >= $from AND start < $to{byUser} GROUP BY start ORDER BY start
                """;
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
        await using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = $"""
                SELECT start, bin, SUM(n) FROM stats_latency
                WHERE bucket = $b AND tag = $t AND start >= $from AND start < $to{byUser} GROUP BY start, bin ORDER BY start
                """;
            Bind(cmd, query, LatencyBucketOf(query.Bucket));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var start = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0));
                if (latency.Count == 0 || latency[^1].Start != start) latency.Add(new LatencyRow(start, new long[LatencyBins.Count]));
                latency[^1].Bins[r.GetInt32(1)] += r.GetInt64(2);
            }
        }
        return new StatsResult(rows, latency);
    }

    /// <summary>Latency is kept per hour and per day: minute queries get it per hour.</summary>
    public static StatsBucket LatencyBucketOf(StatsBucket bucket) => bucket == StatsBucket.Minute ? StatsBucket.Hour : bucket;

    private static void Bind(SqliteCommand cmd, StatsQuery query, StatsBucket bucket)
    {
        cmd.Parameters.AddWithValue("$b", (int)bucket);
        cmd.Parameters.AddWithValue("$t", query.Tag);
        // A latency hour that started before a minute query's start still overlaps it.
        cmd.Parameters.AddWithValue("$from", StatsBuckets.StartOf(bucket, query.From).ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$to", query.To.ToUnixTimeMilliseconds());
        if (query.UserId is not null) cmd.Parameters.AddWithValue("$u", query.UserId);
    }

    public async Task PruneAsync(DateTimeOffset minutesBefore, DateTimeOffset hoursBefore, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            DELETE FROM stats_counts WHERE bucket = 0 AND start < $m;
            DELETE FROM stats_counts WHERE bucket = 1 AND start < $h;
            DELETE FROM stats_latency WHERE bucket = 1 AND start < $h;
            """;
        cmd.Parameters.AddWithValue("$m", minutesBefore.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$h", hoursBefore.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

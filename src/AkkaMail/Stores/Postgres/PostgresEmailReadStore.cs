using System.Text.Json;
using AkkaMail.ReadModel;
using AkkaMail.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// The read model in PostgreSQL: one row per email, the view as UTF-8 JSON (bytea: written and read as bytes, with no
/// parsing by the server) plus the columns we filter on; recipients and tags as arrays. A projection batch (views,
/// suppressions, offset) is one transaction sent in one round trip.
/// </summary>
public sealed class PostgresEmailReadStore(PostgresDatabase db) : IEmailReadStore, IEmailProjectionStore, IEmailStorageStore
{
    private const string UpsertSql = """
        INSERT INTO emails (id, user_id, status, phase, created_at, provider_message_id, recipients, tags, version, doc, settled_at,
            awaiting_report_from, awaiting_report_since, body_bytes, bodies_removed_at, view_bytes, search)
        VALUES (@id, @user, @status, @phase, @created, @pmid, @recipients, @tags, @version, @doc, @settled, @awaitingFrom, @awaitingSince,
            @bodyBytes, @bodiesRemoved, octet_length(@doc), to_tsvector('simple', @search))
        ON CONFLICT (id) DO UPDATE SET
            status = excluded.status, phase = excluded.phase, provider_message_id = excluded.provider_message_id,
            recipients = excluded.recipients, tags = excluded.tags, version = excluded.version, doc = excluded.doc,
            settled_at = excluded.settled_at, awaiting_report_from = excluded.awaiting_report_from,
            awaiting_report_since = excluded.awaiting_report_since,
            body_bytes = GREATEST(emails.body_bytes, excluded.body_bytes),
            bodies_removed_at = COALESCE(emails.bodies_removed_at, excluded.bodies_removed_at), view_bytes = excluded.view_bytes, search = excluded.search
        WHERE excluded.version > emails.version
        """;

    // A suppression is kept as first recorded, and not re-added over a lift newer than its event.
    private const string SuppressSql = """
        INSERT INTO suppressions (user_id, address, reason, created_at, email_id)
        SELECT @u, @a, @r, @t, @e
        WHERE NOT EXISTS (SELECT 1 FROM suppression_lifts WHERE user_id = @u AND address = @a AND lifted_at >= @t)
        ON CONFLICT (user_id, address) DO NOTHING
        """;

    private const string SaveOffsetSql = """
        INSERT INTO projection_offsets (name, ordering, updated_at) VALUES (@n, @o, @t)
        ON CONFLICT (name) DO UPDATE SET ordering = GREATEST(projection_offsets.ordering, excluded.ordering), updated_at = excluded.updated_at
        """;

    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) =>
        views.Count == 0 ? Task.CompletedTask : WriteAsync(views, Array.Empty<ProjectedSuppression>(), null, 0, ct);

    public Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        long offset, CancellationToken ct = default) => WriteAsync(views, suppressions, projection, offset, ct);

    /// <summary>Views, suppressions and (with a projection name) the offset, in one transaction and one round trip.</summary>
    private async Task WriteAsync(IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        string? projection, long offset, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(c, tx);
        // Rows are locked in one order (id, then user and address, then the offset), so that batches written at once by
        // several nodes' projections (cluster mode) wait for each other instead of deadlocking.
        foreach (var v in views.OrderBy(v => v.Id, StringComparer.Ordinal))
            batch.BatchCommands.Add(new NpgsqlBatchCommand(UpsertSql)
            {
                Parameters =
                {
                    PostgresDatabase.Parameter("id", v.Id, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("user", v.UserId, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("status", v.Status, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("phase", v.Phase, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("created", v.CreatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("pmid", v.ProviderMessageId, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("recipients", v.Recipients.Select(r => r.Address).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("tags", v.Tags.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("version", v.Version, NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("doc", JsonSerializer.SerializeToUtf8Bytes(v, EmailEventSerializer.Json), NpgsqlDbType.Bytea),
                    PostgresDatabase.Parameter("settled", v.SettledAt?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("awaitingFrom", v.AwaitingReportFrom, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("awaitingSince", v.AwaitingReportSince?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("bodyBytes", v.BodyBytes, NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("bodiesRemoved", v.BodiesRemovedAt?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("search", EmailSearch.TextOf(v), NpgsqlDbType.Text),
                },
            });
        foreach (var (userId, s) in suppressions.OrderBy(p => p.UserId, StringComparer.Ordinal)
                     .ThenBy(p => Domain.Addresses.Normalize(p.Suppression.Address), StringComparer.Ordinal))
            batch.BatchCommands.Add(new NpgsqlBatchCommand(SuppressSql)
            {
                Parameters =
                {
                    PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("a", Domain.Addresses.Normalize(s.Address), NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("r", s.Reason, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("t", s.CreatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("e", s.EmailId, NpgsqlDbType.Text),
                },
            });
        if (projection is not null)
            batch.BatchCommands.Add(new NpgsqlBatchCommand(SaveOffsetSql)
            {
                Parameters =
                {
                    PostgresDatabase.Parameter("n", projection, NpgsqlDbType.Text),
                    PostgresDatabase.Parameter("o", offset, NpgsqlDbType.Bigint),
                    PostgresDatabase.Parameter("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
                },
            });
        if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT ordering FROM projection_offsets WHERE name = @n");
        cmd.Parameters.Add(PostgresDatabase.Parameter("n", projection, NpgsqlDbType.Text));
        return await cmd.ExecuteScalarAsync(ct) is long offset ? offset : 0;
    }

    public async Task ResetAsync(string projection, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        // An erased address's suppression (its hash) has no event left to rebuild it from: it stays.
        await using var cmd = new NpgsqlCommand("""
            TRUNCATE emails; DELETE FROM suppressions WHERE NOT starts_with(address, 'sha256:');
            DELETE FROM projection_offsets WHERE name = @n
            """, c, tx);
        cmd.Parameters.Add(PostgresDatabase.Parameter("n", projection, NpgsqlDbType.Text));
        await cmd.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    public async Task<EmailPage> ListAsync(EmailQuery q, CancellationToken ct = default)
    {
        await using var cmd = db.Command("");
        var where = new List<string> { "user_id = @user" };
        cmd.Parameters.Add(PostgresDatabase.Parameter("user", q.UserId, NpgsqlDbType.Text));
        if (q.Status is not null)
        {
            where.Add("status = @status");
            cmd.Parameters.Add(PostgresDatabase.Parameter("status", q.Status, NpgsqlDbType.Text));
        }
        if (q.Recipient is not null)
        {
            where.Add("@recipient = ANY (recipients)");
            cmd.Parameters.Add(PostgresDatabase.Parameter("recipient", Domain.Addresses.Normalize(q.Recipient), NpgsqlDbType.Text));
        }
        if (q.Tag is not null)
        {
            where.Add("@tag = ANY (tags)");
            cmd.Parameters.Add(PostgresDatabase.Parameter("tag", q.Tag, NpgsqlDbType.Text));
        }
        if (q.CreatedAfter is { } a)
        {
            where.Add("created_at > @after");
            cmd.Parameters.Add(PostgresDatabase.Parameter("after", a.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        }
        if (q.CreatedBefore is { } b)
        {
            where.Add("created_at < @before");
            cmd.Parameters.Add(PostgresDatabase.Parameter("before", b.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        }
        if (q.After is { } p)
        {
            where.Add("(created_at, id) < (@pc, @pid)");
            cmd.Parameters.Add(PostgresDatabase.Parameter("pc", p.CreatedAtMs, NpgsqlDbType.Bigint));
            cmd.Parameters.Add(PostgresDatabase.Parameter("pid", p.Id, NpgsqlDbType.Text));
        }
        // Search: the GIN index on the tsvector finds the matches (a term's tokens adjacent, the last a prefix); the
        // planner weighs them against walking the user's newest-first index.
        if (q.Search is { } terms)
        {
            where.Add("search @@ to_tsquery('simple', @q)");
            cmd.Parameters.Add(PostgresDatabase.Parameter("q", EmailSearch.ToTsQuery(terms), NpgsqlDbType.Text));
        }
        cmd.CommandText = $"SELECT doc, created_at, id FROM emails WHERE {string.Join(" AND ", where)} ORDER BY created_at DESC, id DESC LIMIT @limit";
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", q.Limit + 1, NpgsqlDbType.Integer));
        var items = new List<(EmailView View, long Created, string Id)>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
                items.Add((ReadView(r, 0), r.GetInt64(1), r.GetString(2)));
        var more = items.Count > q.Limit;
        if (more) items.RemoveAt(items.Count - 1);
        return new EmailPage(items.Select(i => i.View).ToList(), more ? new ListPosition(items[^1].Created, items[^1].Id) : null);
    }

    public async Task<EmailView?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT doc FROM emails WHERE id = @id");
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", id, NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? ReadView(r, 0) : null;
    }

    private static EmailView ReadView(NpgsqlDataReader r, int ordinal) =>
        JsonSerializer.Deserialize<EmailView>(r.GetFieldValue<byte[]>(ordinal), EmailEventSerializer.Json)!;

    public async Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default)
    {
        await using var cmd = db.Command("SELECT id FROM emails WHERE provider_message_id = @p LIMIT 1");
        cmd.Parameters.Add(PostgresDatabase.Parameter("p", providerMessageId, NpgsqlDbType.Text));
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    public async Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default)
    {
        // The same phase list as the partial index ix_emails_unsettled, written out, so the planner uses it.
        await using var cmd = db.Command($"""
            SELECT id FROM emails WHERE phase IN ({string.Join(", ", PostgresSchema.UnsettledPhases.Select(p => $"'{p}'"))})
            AND id > @after ORDER BY id LIMIT @limit
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("after", afterId ?? "", NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var ids = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) ids.Add(r.GetString(0));
        return ids;
    }

    public async Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            SELECT settled_at, id FROM emails WHERE settled_at IS NOT NULL AND (settled_at, id) > (@at, @id) AND settled_at <= @upTo
            ORDER BY settled_at, id LIMIT @limit
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("at", after.SettledAtMs, NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", after.Id, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("upTo", upTo.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var found = new List<SettledPosition>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add(new SettledPosition(r.GetInt64(0), r.GetString(1)));
        return found;
    }

    public async Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
        CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            SELECT awaiting_report_since, id FROM emails
            WHERE awaiting_report_from = @provider AND (awaiting_report_since, id) > (@at, @id) AND awaiting_report_since <= @upTo
            ORDER BY awaiting_report_since, id LIMIT @limit
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("provider", provider, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("at", after.SentAtMs, NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("id", after.Id, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("upTo", sentUpTo.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var found = new List<SentPosition>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add(new SentPosition(r.GetInt64(0), r.GetString(1)));
        return found;
    }

    public async Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default)
    {
        if (ids.Count == 0) return;
        await using var cmd = db.Command("DELETE FROM emails WHERE id = ANY(@ids)");
        cmd.Parameters.Add(PostgresDatabase.Parameter("ids", ids.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default)
    {
        var normalized = Domain.Addresses.Normalize(address);
        // Candidates: the address among the recipients, or its domain anywhere in the view (the sender); confirmed below.
        await using var cmd = db.Command($"""
            SELECT doc FROM emails WHERE id > @after {(userId is null ? "" : "AND user_id = @user")}
            AND (@a = ANY (recipients) OR strpos(lower(convert_from(doc, 'UTF8')), @domain) > 0)
            ORDER BY id LIMIT @limit
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("after", afterId ?? "", NpgsqlDbType.Text));
        if (userId is not null) cmd.Parameters.Add(PostgresDatabase.Parameter("user", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("a", normalized, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("domain", "@" + AddressPage.DomainOf(normalized), NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("limit", limit, NpgsqlDbType.Integer));
        var views = new List<EmailView>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            views.Add(JsonSerializer.Deserialize<EmailView>(r.GetFieldValue<byte[]>(0), EmailEventSerializer.Json)!);
        return AddressPage.Of(views, normalized, limit);
    }

    public async Task<IReadOnlyList<UserStorage>> MeasureByUserAsync(CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            SELECT user_id, count(*), coalesce(sum(body_bytes) FILTER (WHERE bodies_removed_at IS NULL), 0)::bigint,
                coalesce(sum(body_bytes) FILTER (WHERE bodies_removed_at IS NOT NULL), 0)::bigint, coalesce(sum(view_bytes), 0)::bigint
            FROM emails GROUP BY user_id
            """);
        var users = new List<UserStorage>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            users.Add(new UserStorage(r.GetString(0), new StorageFigures(r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4))));
        return users;
    }

    public async Task MarkBodiesRemovedAsync(IReadOnlyCollection<string> ids, DateTimeOffset at, CancellationToken ct = default)
    {
        if (ids.Count == 0) return;
        await using var cmd = db.Command("UPDATE emails SET bodies_removed_at = @at WHERE id = ANY(@ids) AND bodies_removed_at IS NULL");
        cmd.Parameters.Add(PostgresDatabase.Parameter("at", at.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(PostgresDatabase.Parameter("ids", ids.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Akka.Persistence.Sql's tables (<see cref="JournalTables"/>) as "journal", every other table of the schema as
    /// "read_model": pg_total_relation_size, so indexes and TOAST included, and dead tuples not yet reused.</summary>
    public async Task<IReadOnlyList<DiskPart>> MeasureDiskAsync(CancellationToken ct = default)
    {
        await using var cmd = db.Command("""
            SELECT c.relname = ANY(@journal), coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
            GROUP BY 1
            """);
        cmd.Parameters.Add(PostgresDatabase.Parameter("journal", JournalTables, NpgsqlDbType.Array | NpgsqlDbType.Text));
        var parts = new List<DiskPart>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) parts.Add(new DiskPart(r.GetBoolean(0) ? "journal" : "read_model", r.GetInt64(1)));
        return parts;
    }

    /// <summary>The journal plugin's tables (its defaults, which we keep): events, tags, metadata and snapshots.</summary>
    public static readonly string[] JournalTables = { "journal", "tags", "journal_metadata", "snapshot" };
}

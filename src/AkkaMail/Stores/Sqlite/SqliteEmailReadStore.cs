using System.Text.Json;
using AkkaMail.ReadModel;
using AkkaMail.Serialization;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// The read model in a SQLite file: one row per email, the view as JSON plus the columns we filter on.
/// </summary>
public sealed class SqliteEmailReadStore(SqliteDatabase db) : IEmailReadStore, IEmailProjectionStore, IEmailStorageStore, IDisposable
{
    private static readonly string[] UnsettledPhases = { "Queued", "Scheduled", "Sending", "RetryWaiting" };

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS emails (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                status TEXT NOT NULL,
                phase TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                provider_message_id TEXT NULL,
                recipients TEXT NOT NULL,
                tags TEXT NOT NULL,
                version INTEGER NOT NULL,
                doc TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_emails_user_created ON emails(user_id, created_at DESC, id DESC);
            CREATE INDEX IF NOT EXISTS ix_emails_status ON emails(status);
            CREATE INDEX IF NOT EXISTS ix_emails_phase ON emails(phase, id);
            CREATE INDEX IF NOT EXISTS ix_emails_provider_message_id ON emails(provider_message_id);
            CREATE TABLE IF NOT EXISTS projection_offsets (
                name TEXT PRIMARY KEY,
                offset INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            """ + SqliteSuppressionStore.Schema, ct);
        // Added for retention: tables created before it get the column (null until their rows are stored again).
        if (!await SqliteDatabase.HasColumnAsync(c, "emails", "settled_at", ct))
            await SqliteDatabase.ExecAsync(c, "ALTER TABLE emails ADD COLUMN settled_at INTEGER NULL;", ct);
        await SqliteDatabase.ExecAsync(c, "CREATE INDEX IF NOT EXISTS ix_emails_settled ON emails(settled_at, id) WHERE settled_at IS NOT NULL;", ct);
        // Added for reconciliation: likewise (null until the rows are stored again).
        if (!await SqliteDatabase.HasColumnAsync(c, "emails", "awaiting_report_from", ct))
            await SqliteDatabase.ExecAsync(c,
                "ALTER TABLE emails ADD COLUMN awaiting_report_from TEXT NULL; ALTER TABLE emails ADD COLUMN awaiting_report_since INTEGER NULL;", ct);
        await SqliteDatabase.ExecAsync(c, "CREATE INDEX IF NOT EXISTS ix_emails_awaiting_report ON emails(awaiting_report_from, awaiting_report_since, id) " +
            "WHERE awaiting_report_from IS NOT NULL;", ct);
        // Added for the storage figures: likewise (0 until the rows are stored again). The index covers the per-user sums,
        // so measuring reads it, not the views.
        if (!await SqliteDatabase.HasColumnAsync(c, "emails", "view_bytes", ct))
            await SqliteDatabase.ExecAsync(c, "ALTER TABLE emails ADD COLUMN body_bytes INTEGER NOT NULL DEFAULT 0; " +
                "ALTER TABLE emails ADD COLUMN bodies_removed_at INTEGER NULL; ALTER TABLE emails ADD COLUMN view_bytes INTEGER NOT NULL DEFAULT 0;", ct);
        await SqliteDatabase.ExecAsync(c, "CREATE INDEX IF NOT EXISTS ix_emails_storage ON emails(user_id, body_bytes, bodies_removed_at, view_bytes);", ct);
        // Added for search: emails stored before it are indexed once, here, from their stored views.
        if (!await SqliteDatabase.HasColumnAsync(c, "emails", "search_key", ct))
        {
            await SqliteDatabase.ExecAsync(c, "ALTER TABLE emails ADD COLUMN search_key INTEGER NULL; DROP TABLE IF EXISTS email_search;" + SearchSchema, ct);
            await BackfillSearchAsync(c, ct);
        }
    }

    /// <summary>
    /// The search index (<see cref="EmailSearch"/>): an FTS5 table, one row per email keyed by <see cref="SearchKey"/>
    /// (also in the email's row, <c>search_key</c>), holding the email's id and its search text. FTS5's secure-delete is on, so a removed email's tokens leave the
    /// index's pages at once (not at a later merge), and the connection's secure_delete zeroes its content row: erasure
    /// and retention leave its addresses in no page of the file.
    /// </summary>
    private const string SearchSchema = """
        CREATE VIRTUAL TABLE email_search USING fts5(email_id UNINDEXED, terms, tokenize = 'unicode61');
        INSERT INTO email_search(email_search, rank) VALUES('secure-delete', 1);
        """;

    /// <summary>The search row's key: 64 bits of SHA-256 of the id (the emails table's own rowid may be renumbered by
    /// VACUUM). Two ids with one key (odds ~10^-7 at 10^6 emails) would share a row, one of them then unfindable by
    /// search; a found row is joined on the id it holds, so search never answers the wrong email.</summary>
    public static long SearchKey(string id) =>
        BitConverter.ToInt64(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id)), 0);

    private static async Task<bool> TableExistsAsync(SqliteConnection c, string name, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM sqlite_master WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", name);
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    private static async Task BackfillSearchAsync(SqliteConnection c, CancellationToken ct)
    {
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using var insert = c.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO email_search(rowid, email_id, terms) VALUES ($k, $id, $terms); UPDATE emails SET search_key = $k WHERE id = $id;";
        var k = insert.Parameters.Add("$k", SqliteType.Integer);
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        var terms = insert.Parameters.Add("$terms", SqliteType.Text);
        await using var read = c.CreateCommand();
        read.Transaction = tx;
        read.CommandText = "SELECT doc FROM emails WHERE search_key IS NULL";
        await using (var r = await read.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
            {
                var v = ReadView(r, 0);
                k.Value = SearchKey(v.Id);
                id.Value = v.Id;
                terms.Value = EmailSearch.TextOf(v);
                await insert.ExecuteNonQueryAsync(ct);
            }
        await tx.CommitAsync(ct);
    }

    // Upserts go through one connection and one prepared statement kept for the store's lifetime: the writer sends
    // a batch every few milliseconds, and opening, preparing (compiling the upsert) and disposing per batch cost
    // more than writing a small batch. One batch at a time (the lock); a failed batch drops the connection, the
    // next one opens a fresh one.
    private readonly SemaphoreSlim _upsertLock = new(1, 1);
    private Upsert? _upsert;
    private bool _disposed;

    private sealed class Upsert : IDisposable
    {
        public readonly SqliteConnection Connection;
        public readonly SqliteCommand Command;
        public readonly SqliteParameter Id, User, Status, Phase, Created, Pmid, Recipients, Tags, Version, Doc, Settled, AwaitingFrom, AwaitingSince,
            BodyBytes, BodiesRemoved, ViewBytes, SearchKeyOfRow;

        public Upsert(SqliteConnection connection)
        {
            Connection = connection;
            Command = connection.CreateCommand();
            Command.CommandText = """
                INSERT INTO emails (id, user_id, status, phase, created_at, provider_message_id, recipients, tags, version, doc, settled_at,
                    awaiting_report_from, awaiting_report_since, body_bytes, bodies_removed_at, view_bytes, search_key)
                VALUES ($id, $user, $status, $phase, $created, $pmid, $recipients, $tags, $version, $doc, $settled, $awaitingFrom, $awaitingSince,
                    $bodyBytes, $bodiesRemoved, $viewBytes, $searchKey)
                ON CONFLICT(id) DO UPDATE SET
                    status = excluded.status, phase = excluded.phase, provider_message_id = excluded.provider_message_id,
                    version = excluded.version, doc = excluded.doc, settled_at = excluded.settled_at,
                    awaiting_report_from = excluded.awaiting_report_from, awaiting_report_since = excluded.awaiting_report_since,
                    body_bytes = max(emails.body_bytes, excluded.body_bytes),
                    bodies_removed_at = coalesce(emails.bodies_removed_at, excluded.bodies_removed_at), view_bytes = excluded.view_bytes, search_key = excluded.search_key
                WHERE excluded.version > emails.version;
                """;
            Id = Command.Parameters.Add("$id", SqliteType.Text);
            User = Command.Parameters.Add("$user", SqliteType.Text);
            Status = Command.Parameters.Add("$status", SqliteType.Text);
            Phase = Command.Parameters.Add("$phase", SqliteType.Text);
            Created = Command.Parameters.Add("$created", SqliteType.Integer);
            Pmid = Command.Parameters.Add("$pmid", SqliteType.Text);
            Recipients = Command.Parameters.Add("$recipients", SqliteType.Text);
            Tags = Command.Parameters.Add("$tags", SqliteType.Text);
            Version = Command.Parameters.Add("$version", SqliteType.Integer);
            // The view as UTF-8 JSON, stored as a BLOB: serialized straight to bytes, with no UTF-16 string between
            // the view and SQLite. Rows stored as TEXT by earlier versions read the same.
            Doc = Command.Parameters.Add("$doc", SqliteType.Blob);
            Settled = Command.Parameters.Add("$settled", SqliteType.Integer);
            AwaitingFrom = Command.Parameters.Add("$awaitingFrom", SqliteType.Text);
            AwaitingSince = Command.Parameters.Add("$awaitingSince", SqliteType.Integer);
            BodyBytes = Command.Parameters.Add("$bodyBytes", SqliteType.Integer);
            BodiesRemoved = Command.Parameters.Add("$bodiesRemoved", SqliteType.Integer);
            ViewBytes = Command.Parameters.Add("$viewBytes", SqliteType.Integer);
            SearchKeyOfRow = Command.Parameters.Add("$searchKey", SqliteType.Integer);
            Command.Prepare();

            // A suppression is kept as first recorded, and not re-added over a lift newer than its event.
            Suppress = connection.CreateCommand();
            Suppress.CommandText = """
                INSERT INTO suppressions (user_id, address, reason, created_at, email_id)
                SELECT $u, $a, $r, $t, $e
                WHERE NOT EXISTS (SELECT 1 FROM suppression_lifts WHERE user_id = $u AND address = $a AND lifted_at >= $t)
                ON CONFLICT(user_id, address) DO NOTHING;
                """;
            SUser = Suppress.Parameters.Add("$u", SqliteType.Text);
            SAddress = Suppress.Parameters.Add("$a", SqliteType.Text);
            SReason = Suppress.Parameters.Add("$r", SqliteType.Text);
            SCreated = Suppress.Parameters.Add("$t", SqliteType.Integer);
            SEmail = Suppress.Parameters.Add("$e", SqliteType.Text);
            Suppress.Prepare();

            SaveOffset = connection.CreateCommand();
            SaveOffset.CommandText = """
                INSERT INTO projection_offsets (name, offset, updated_at) VALUES ($n, $o, $t)
                ON CONFLICT(name) DO UPDATE SET offset = excluded.offset, updated_at = excluded.updated_at;
                """;
            OName = SaveOffset.Parameters.Add("$n", SqliteType.Text);
            OOffset = SaveOffset.Parameters.Add("$o", SqliteType.Integer);
            OTime = SaveOffset.Parameters.Add("$t", SqliteType.Integer);
            SaveOffset.Prepare();

            // A view's search row is rewritten only when its text changed (most events change a status, not the text).
            SearchRead = connection.CreateCommand();
            SearchRead.CommandText = "SELECT terms FROM email_search WHERE rowid = $k";
            SReadKey = SearchRead.Parameters.Add("$k", SqliteType.Integer);
            SearchRead.Prepare();
            SearchWrite = connection.CreateCommand();
            SearchWrite.CommandText = """
                DELETE FROM email_search WHERE rowid = $k;
                INSERT INTO email_search(rowid, email_id, terms) VALUES ($k, $id, $terms);
                """;
            SWriteKey = SearchWrite.Parameters.Add("$k", SqliteType.Integer);
            SWriteId = SearchWrite.Parameters.Add("$id", SqliteType.Text);
            SWriteTerms = SearchWrite.Parameters.Add("$terms", SqliteType.Text);
        }

        public readonly SqliteCommand SearchRead, SearchWrite;
        public readonly SqliteParameter SReadKey, SWriteKey, SWriteId, SWriteTerms;
        public readonly SqliteCommand Suppress, SaveOffset;
        public readonly SqliteParameter SUser, SAddress, SReason, SCreated, SEmail, OName, OOffset, OTime;

        public void Dispose()
        {
            Command.Dispose();
            Suppress.Dispose();
            SaveOffset.Dispose();
            SearchRead.Dispose();
            SearchWrite.Dispose();
            Connection.Dispose();
        }
    }

    public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) =>
        views.Count == 0 ? Task.CompletedTask : WriteAsync(views, Array.Empty<ProjectedSuppression>(), null, 0, ct);

    public Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        long offset, CancellationToken ct = default) => WriteAsync(views, suppressions, projection, offset, ct);

    /// <summary>Views, suppressions and (with a projection name) the offset, in one transaction.</summary>
    private async Task WriteAsync(IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        string? projection, long offset, CancellationToken ct)
    {
        await _upsertLock.WaitAsync(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var u = _upsert ??= await OpenUpsertAsync(ct);
            try
            {
                using var tx = u.Connection.BeginTransaction();
                u.Command.Transaction = tx;
                u.SearchRead.Transaction = tx;
                u.SearchWrite.Transaction = tx;
                foreach (var v in views)
                {
                    u.Id.Value = v.Id;
                    u.User.Value = v.UserId;
                    u.Status.Value = v.Status;
                    u.Phase.Value = v.Phase;
                    u.Created.Value = v.CreatedAt.ToUnixTimeMilliseconds();
                    u.Pmid.Value = (object?)v.ProviderMessageId ?? DBNull.Value;
                    u.Recipients.Value = Delimited(v.Recipients.Select(r => r.Address));
                    u.Tags.Value = Delimited(v.Tags);
                    u.Version.Value = v.Version;
                    var doc = JsonSerializer.SerializeToUtf8Bytes(v, EmailEventSerializer.Json);
                    u.Doc.Value = doc;
                    u.BodyBytes.Value = v.BodyBytes;
                    u.BodiesRemoved.Value = v.BodiesRemovedAt is { } removed ? removed.ToUnixTimeMilliseconds() : DBNull.Value;
                    u.ViewBytes.Value = doc.Length;
                    u.Settled.Value = v.SettledAt is { } settled ? settled.ToUnixTimeMilliseconds() : DBNull.Value;
                    u.AwaitingFrom.Value = (object?)v.AwaitingReportFrom ?? DBNull.Value;
                    u.AwaitingSince.Value = v.AwaitingReportSince is { } since ? since.ToUnixTimeMilliseconds() : DBNull.Value;
                    var key = SearchKey(v.Id);
                    u.SearchKeyOfRow.Value = key;
                    // Version-guarded: a stale view changes nothing, its search row included.
                    if (u.Command.ExecuteNonQuery() == 0) continue;
                    var terms = EmailSearch.TextOf(v);
                    u.SReadKey.Value = key;
                    if (u.SearchRead.ExecuteScalar() is string stored && stored == terms) continue;
                    u.SWriteKey.Value = key;
                    u.SWriteId.Value = v.Id;
                    u.SWriteTerms.Value = terms;
                    u.SearchWrite.ExecuteNonQuery();
                }
                if (suppressions.Count > 0)
                {
                    u.Suppress.Transaction = tx;
                    foreach (var (userId, s) in suppressions)
                    {
                        u.SUser.Value = userId;
                        u.SAddress.Value = Domain.Addresses.Normalize(s.Address);
                        u.SReason.Value = s.Reason;
                        u.SCreated.Value = s.CreatedAt.ToUnixTimeMilliseconds();
                        u.SEmail.Value = (object?)s.EmailId ?? DBNull.Value;
                        u.Suppress.ExecuteNonQuery();
                    }
                }
                if (projection is not null)
                {
                    u.SaveOffset.Transaction = tx;
                    u.OName.Value = projection;
                    u.OOffset.Value = offset;
                    u.OTime.Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    u.SaveOffset.ExecuteNonQuery();
                }
                tx.Commit();
            }
            catch
            {
                _upsert = null;
                u.Dispose();
                throw;
            }
        }
        finally
        {
            _upsertLock.Release();
        }
    }

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT offset FROM projection_offsets WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", projection);
        return await cmd.ExecuteScalarAsync(ct) is long offset ? offset : 0;
    }

    public async Task ResetAsync(string projection, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        // An erased address's suppression (its hash) has no event left to rebuild it from: it stays.
        cmd.CommandText = """
            BEGIN; DELETE FROM emails; DELETE FROM suppressions WHERE substr(address, 1, 7) <> 'sha256:';
            DROP TABLE email_search;
            CREATE VIRTUAL TABLE email_search USING fts5(email_id UNINDEXED, terms, tokenize = 'unicode61');
            INSERT INTO email_search(email_search, rank) VALUES('secure-delete', 1);
            DELETE FROM projection_offsets WHERE name = $n; COMMIT;
            """;
        cmd.Parameters.AddWithValue("$n", projection);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private async Task<Upsert> OpenUpsertAsync(CancellationToken ct)
    {
        var connection = await db.OpenAsync(ct);
        try
        {
            return new Upsert(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _upsertLock.Wait();
        try
        {
            _disposed = true;
            _upsert?.Dispose();
            _upsert = null;
        }
        finally
        {
            _upsertLock.Release();
        }
    }

    /// <summary>"|a|b|": a value matches with instr(column, '|' || value || '|'), no LIKE escaping needed.</summary>
    private static string Delimited(IEnumerable<string> values) => "|" + string.Join("|", values) + "|";

    public async Task<EmailPage> ListAsync(EmailQuery q, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        var where = new List<string> { "user_id = $user" };
        cmd.Parameters.AddWithValue("$user", q.UserId);
        if (q.Status is not null) { where.Add("status = $status"); cmd.Parameters.AddWithValue("$status", q.Status); }
        if (q.Recipient is not null)
        {
            where.Add("instr(recipients, '|' || $recipient || '|') > 0");
            cmd.Parameters.AddWithValue("$recipient", Domain.Addresses.Normalize(q.Recipient));
        }
        if (q.Tag is not null) { where.Add("instr(tags, '|' || $tag || '|') > 0"); cmd.Parameters.AddWithValue("$tag", q.Tag); }
        if (q.CreatedAfter is { } a) { where.Add("created_at > $after"); cmd.Parameters.AddWithValue("$after", a.ToUnixTimeMilliseconds()); }
        if (q.CreatedBefore is { } b) { where.Add("created_at < $before"); cmd.Parameters.AddWithValue("$before", b.ToUnixTimeMilliseconds()); }
        if (q.After is { } p)
        {
            where.Add("(created_at < $pc OR (created_at = $pc AND id < $pid))");
            cmd.Parameters.AddWithValue("$pc", p.CreatedAtMs);
            cmd.Parameters.AddWithValue("$pid", p.Id);
        }
        if (q.Search is { } terms)
        {
            var match = EmailSearch.ToFts5(terms);
            cmd.Parameters.AddWithValue("$q", match);
            // Few matches: they drive the query (each looked up by id, sorted, the page's docs read last). Many: the
            // user's newest-first index drives it, each row tested against the matches' keys, until the page is full;
            // the first would sort every match, the second would walk every row of the user for a rare word.
            if (await CountMatchesUpToAsync(c, match, FewMatches, ct) < FewMatches)
            {
                where.Add("email_search MATCH $q");
                cmd.CommandText = $"""
                    SELECT doc, created_at, id FROM emails WHERE id IN (
                        SELECT emails.id FROM email_search JOIN emails ON emails.id = email_search.email_id
                        WHERE {string.Join(" AND ", where)} ORDER BY created_at DESC, id DESC LIMIT $limit)
                    ORDER BY created_at DESC, id DESC
                    """;
            }
            else
            {
                // The key's row must also name this email (two ids sharing a key: the row belongs to one of them).
                where.Add("+search_key IN (SELECT rowid FROM email_search WHERE email_search MATCH $q)");
                where.Add("id = (SELECT email_id FROM email_search WHERE rowid = emails.search_key)");
                cmd.CommandText = $"SELECT doc, created_at, id FROM emails WHERE {string.Join(" AND ", where)} ORDER BY created_at DESC, id DESC LIMIT $limit";
            }
        }
        else
            cmd.CommandText = $"SELECT doc, created_at, id FROM emails WHERE {string.Join(" AND ", where)} ORDER BY created_at DESC, id DESC LIMIT $limit";
        cmd.Parameters.AddWithValue("$limit", q.Limit + 1);
        var items = new List<(EmailView View, long Created, string Id)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            items.Add((ReadView(r, 0), r.GetInt64(1), r.GetString(2)));
        var more = items.Count > q.Limit;
        if (more) items.RemoveAt(items.Count - 1);
        return new EmailPage(items.Select(i => i.View).ToList(), more ? new ListPosition(items[^1].Created, items[^1].Id) : null);
    }

    /// <summary>Where a search switches from match-driven to index-driven (see <see cref="ListAsync"/>); counting up to
    /// it reads that many entries of the index at most.</summary>
    public const int FewMatches = 2000;

    private static async Task<long> CountMatchesUpToAsync(SqliteConnection c, string match, int limit, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM (SELECT 1 FROM email_search WHERE email_search MATCH $q LIMIT $n)";
        cmd.Parameters.AddWithValue("$q", match);
        cmd.Parameters.AddWithValue("$n", limit);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<EmailView?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT doc FROM emails WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? ReadView(r, 0) : null;
    }

    /// <summary>The view in a doc column: UTF-8 JSON, a BLOB (or TEXT, as written before; SQLite hands out its UTF-8 bytes alike).</summary>
    private static EmailView ReadView(SqliteDataReader r, int ordinal) =>
        JsonSerializer.Deserialize<EmailView>(r.GetFieldValue<byte[]>(ordinal), EmailEventSerializer.Json)!;

    public async Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM emails WHERE provider_message_id = $p LIMIT 1";
        cmd.Parameters.AddWithValue("$p", providerMessageId);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    public async Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"""
            SELECT id FROM emails WHERE phase IN ({string.Join(",", UnsettledPhases.Select(p => $"'{p}'"))})
            AND id > $after ORDER BY id LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$after", afterId ?? "");
        cmd.Parameters.AddWithValue("$limit", limit);
        var ids = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) ids.Add(r.GetString(0));
        return ids;
    }

    public async Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT settled_at, id FROM emails WHERE settled_at IS NOT NULL AND (settled_at, id) > ($at, $id) AND settled_at <= $upTo
            ORDER BY settled_at, id LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$at", after.SettledAtMs);
        cmd.Parameters.AddWithValue("$id", after.Id);
        cmd.Parameters.AddWithValue("$upTo", upTo.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$limit", limit);
        var found = new List<SettledPosition>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add(new SettledPosition(r.GetInt64(0), r.GetString(1)));
        return found;
    }

    public async Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
        CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT awaiting_report_since, id FROM emails
            WHERE awaiting_report_from = $provider AND (awaiting_report_since, id) > ($at, $id) AND awaiting_report_since <= $upTo
            ORDER BY awaiting_report_since, id LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$provider", provider);
        cmd.Parameters.AddWithValue("$at", after.SentAtMs);
        cmd.Parameters.AddWithValue("$id", after.Id);
        cmd.Parameters.AddWithValue("$upTo", sentUpTo.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$limit", limit);
        var found = new List<SentPosition>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add(new SentPosition(r.GetInt64(0), r.GetString(1)));
        return found;
    }

    public async Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default)
    {
        if (ids.Count == 0) return;
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM emails WHERE id = $id; DELETE FROM email_search WHERE rowid = $k;";
        var id = cmd.Parameters.Add("$id", SqliteType.Text);
        var key = cmd.Parameters.Add("$k", SqliteType.Integer);
        foreach (var each in ids)
        {
            id.Value = each;
            key.Value = SearchKey(each);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    public async Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default)
    {
        var normalized = Domain.Addresses.Normalize(address);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        // Candidates: the address among the recipients, or its domain anywhere in the view (the sender); confirmed below.
        cmd.CommandText = $"""
            SELECT doc FROM emails WHERE id > $after {(userId is null ? "" : "AND user_id = $user")}
            AND (instr(recipients, '|' || $a || '|') > 0 OR instr(lower(CAST(doc AS TEXT)), $domain) > 0)
            ORDER BY id LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$after", afterId ?? "");
        if (userId is not null) cmd.Parameters.AddWithValue("$user", userId);
        cmd.Parameters.AddWithValue("$a", normalized);
        cmd.Parameters.AddWithValue("$domain", "@" + AddressPage.DomainOf(normalized));
        cmd.Parameters.AddWithValue("$limit", limit);
        var views = new List<EmailView>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) views.Add(ReadView(r, 0));
        return AddressPage.Of(views, normalized, limit);
    }

    public async Task<IReadOnlyList<UserStorage>> MeasureByUserAsync(CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT user_id, count(*), total(CASE WHEN bodies_removed_at IS NULL THEN body_bytes ELSE 0 END),
                total(CASE WHEN bodies_removed_at IS NULL THEN 0 ELSE body_bytes END), total(view_bytes)
            FROM emails INDEXED BY ix_emails_storage GROUP BY user_id
            """;
        var users = new List<UserStorage>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            users.Add(new UserStorage(r.GetString(0),
                new StorageFigures(r.GetInt64(1), (long)r.GetDouble(2), (long)r.GetDouble(3), (long)r.GetDouble(4))));
        return users;
    }

    public async Task MarkBodiesRemovedAsync(IReadOnlyCollection<string> ids, DateTimeOffset at, CancellationToken ct = default)
    {
        if (ids.Count == 0) return;
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE emails SET bodies_removed_at = $at WHERE id = $id AND bodies_removed_at IS NULL;";
        var id = cmd.Parameters.Add("$id", SqliteType.Text);
        cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        foreach (var each in ids)
        {
            id.Value = each;
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>None: the host measures the SQLite files themselves.</summary>
    public Task<IReadOnlyList<DiskPart>> MeasureDiskAsync(CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<DiskPart>>(Array.Empty<DiskPart>());
}

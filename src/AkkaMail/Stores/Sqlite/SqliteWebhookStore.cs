using System.Text.Json;
using AkkaMail.OutboundWebhooks;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// Outbound webhook endpoints and deliveries in the read-model database (tables <c>webhook_endpoints</c>,
/// <c>webhook_deliveries</c>; the projection's offset in <c>projection_offsets</c>, in the same transaction as its
/// deliveries). Times are Unix milliseconds; secrets are stored as the protector encrypted them.
/// </summary>
public sealed class SqliteWebhookStore(SqliteDatabase db) : IWebhookEndpointStore, IWebhookDeliveryStore
{
    private readonly AsyncOnce _init = new();

    public Task InitializeAsync(CancellationToken ct = default) => _init.RunAsync(CreateSchemaAsync, ct);

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS webhook_endpoints (
                id TEXT PRIMARY KEY, user_id TEXT NOT NULL, url TEXT NOT NULL, event_types TEXT NOT NULL, tags TEXT NOT NULL,
                enabled INTEGER NOT NULL, disabled_reason TEXT NULL, secrets TEXT NOT NULL, consecutive_failures INTEGER NOT NULL,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, description TEXT NULL);
            CREATE INDEX IF NOT EXISTS ix_webhook_endpoints_user ON webhook_endpoints(user_id, created_at, id);
            CREATE TABLE IF NOT EXISTS webhook_deliveries (
                id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, email_id TEXT NOT NULL, ordering INTEGER NOT NULL,
                event_id TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
                status INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
                first_attempt_at INTEGER NULL, last_attempt_at INTEGER NULL, last_status_code INTEGER NULL,
                last_response TEXT NULL, last_error TEXT NULL);
            CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_pending ON webhook_deliveries(endpoint_id, status, email_id, ordering);
            CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_log ON webhook_deliveries(endpoint_id, created_at DESC, id DESC);
            CREATE TABLE IF NOT EXISTS projection_offsets (name TEXT PRIMARY KEY, offset INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            """, ct);
    }

    // ---- endpoints ----

    private const string EndpointColumns =
        "id, user_id, url, event_types, tags, enabled, disabled_reason, secrets, consecutive_failures, created_at, updated_at, description";

    public async Task CreateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"INSERT INTO webhook_endpoints ({EndpointColumns}) VALUES ($id, $user, $url, $types, $tags, $enabled, $reason, $secrets, $failures, $created, $updated, $description)";
        BindEndpoint(cmd, endpoint);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<WebhookEndpoint?> GetAsync(string id, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? ReadEndpoint(r) : null;
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string? userId, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = userId is null
            ? $"SELECT {EndpointColumns} FROM webhook_endpoints ORDER BY created_at, id"
            : $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE user_id = $user ORDER BY created_at, id";
        if (userId is not null) cmd.Parameters.AddWithValue("$user", userId);
        var list = new List<WebhookEndpoint>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(ReadEndpoint(r));
        return list;
    }

    public async Task<bool> UpdateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            UPDATE webhook_endpoints SET user_id = $user, url = $url, event_types = $types, tags = $tags, enabled = $enabled,
                disabled_reason = $reason, secrets = $secrets, consecutive_failures = $failures, created_at = $created,
                updated_at = $updated, description = $description
            WHERE id = $id
            """;
        BindEndpoint(cmd, endpoint);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM webhook_deliveries WHERE endpoint_id = $id; DELETE FROM webhook_endpoints WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        await cmd.ExecuteNonQueryAsync(ct);
        await using var changes = c.CreateCommand();
        changes.Transaction = tx;
        changes.CommandText = "SELECT changes()";
        var deleted = (long)(await changes.ExecuteScalarAsync(ct))! > 0;
        await tx.CommitAsync(ct);
        return deleted;
    }

    public async Task<bool> RecordResultAsync(string id, bool succeeded, int disableAfter, string reason, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = succeeded
            ? "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $id; SELECT 0;"
            : """
              UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1 WHERE id = $id;
              UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $reason, updated_at = $now
                WHERE id = $id AND enabled = 1 AND consecutive_failures >= $limit;
              SELECT changes();
              """;
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$reason", reason);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$limit", disableAfter);
        return (long)(await cmd.ExecuteScalarAsync(ct))! > 0;
    }

    private static void BindEndpoint(SqliteCommand cmd, WebhookEndpoint e)
    {
        cmd.Parameters.AddWithValue("$id", e.Id);
        cmd.Parameters.AddWithValue("$user", e.UserId);
        cmd.Parameters.AddWithValue("$url", e.Url);
        cmd.Parameters.AddWithValue("$types", JsonSerializer.Serialize(e.EventTypes));
        cmd.Parameters.AddWithValue("$tags", JsonSerializer.Serialize(e.Tags));
        cmd.Parameters.AddWithValue("$enabled", e.Enabled ? 1 : 0);
        cmd.Parameters.AddWithValue("$reason", (object?)e.DisabledReason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$secrets", JsonSerializer.Serialize(e.Secrets));
        cmd.Parameters.AddWithValue("$failures", e.ConsecutiveFailures);
        cmd.Parameters.AddWithValue("$created", e.CreatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$updated", e.UpdatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$description", (object?)e.Description ?? DBNull.Value);
    }

    private static WebhookEndpoint ReadEndpoint(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2),
        JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [],
        JsonSerializer.Deserialize<string[]>(r.GetString(4)) ?? [],
        r.GetInt64(5) != 0, r.IsDBNull(6) ? null : r.GetString(6),
        JsonSerializer.Deserialize<WebhookSecret[]>(r.GetString(7)) ?? [],
        r.GetInt32(8), Time(r.GetInt64(9)), Time(r.GetInt64(10)), r.IsDBNull(11) ? null : r.GetString(11));

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    // ---- deliveries ----

    private const string DeliveryColumns =
        "id, endpoint_id, email_id, ordering, event_id, event_type, payload, created_at, status, attempts, next_attempt_at, " +
        "first_attempt_at, last_attempt_at, last_status_code, last_response, last_error";

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT offset FROM projection_offsets WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", projection);
        return await cmd.ExecuteScalarAsync(ct) is long offset ? offset : 0;
    }

    public async Task StoreAsync(string projection, IReadOnlyCollection<WebhookDelivery> deliveries, long offset, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        if (deliveries.Count > 0)
        {
            await using var insert = c.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = InsertDelivery;
            foreach (var d in deliveries)
            {
                insert.Parameters.Clear();
                BindDelivery(insert, d);
                await insert.ExecuteNonQueryAsync(ct);
            }
        }
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO projection_offsets (name, offset, updated_at) VALUES ($n, $o, $t)
            ON CONFLICT(name) DO UPDATE SET offset = excluded.offset, updated_at = excluded.updated_at;
            """;
        cmd.Parameters.AddWithValue("$n", projection);
        cmd.Parameters.AddWithValue("$o", offset);
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    private const string InsertDelivery = $"""
        INSERT INTO webhook_deliveries ({DeliveryColumns}) VALUES ($id, $endpoint, $email, $ordering, $event, $type, $payload,
            $created, $status, $attempts, $next, $first, $last, $code, $response, $error)
        ON CONFLICT(id) DO NOTHING
        """;

    public async Task AddAsync(WebhookDelivery delivery, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = InsertDelivery;
        BindDelivery(cmd, delivery);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> DueAsync(string endpointId, DateTimeOffset now, int limit, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"""
            SELECT {DeliveryColumns} FROM webhook_deliveries d
            WHERE d.endpoint_id = $endpoint AND d.status = 0 AND d.next_attempt_at <= $now
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                              WHERE p.endpoint_id = d.endpoint_id AND p.status = 0 AND p.email_id = d.email_id
                                AND (p.ordering < d.ordering OR (p.ordering = d.ordering AND p.id < d.id)))
            ORDER BY d.ordering, d.id LIMIT $limit
            """;
        cmd.Parameters.AddWithValue("$endpoint", endpointId);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$limit", limit);
        return await WebhookDeliveryRows.ReadAsync(cmd, ct);
    }

    public async Task SaveAttemptAsync(WebhookDelivery d, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            UPDATE webhook_deliveries SET status = $status, attempts = $attempts, next_attempt_at = $next, first_attempt_at = $first,
                last_attempt_at = $last, last_status_code = $code, last_response = $response, last_error = $error
            WHERE id = $id
            """;
        BindDelivery(cmd, d);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<WebhookDelivery?> GetAsync(string endpointId, string id, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE id = $id AND endpoint_id = $endpoint";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$endpoint", endpointId);
        return (await WebhookDeliveryRows.ReadAsync(cmd, ct)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListAsync(string endpointId, int limit, string? after, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = after is null
            ? $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE endpoint_id = $endpoint ORDER BY created_at DESC, id DESC LIMIT $limit"
            : $"""
               SELECT {DeliveryColumns} FROM webhook_deliveries d, (SELECT created_at AS c FROM webhook_deliveries WHERE id = $after) a
               WHERE d.endpoint_id = $endpoint AND (d.created_at < a.c OR (d.created_at = a.c AND d.id < $after))
               ORDER BY d.created_at DESC, d.id DESC LIMIT $limit
               """;
        cmd.Parameters.AddWithValue("$endpoint", endpointId);
        cmd.Parameters.AddWithValue("$limit", limit);
        if (after is not null) cmd.Parameters.AddWithValue("$after", after);
        return await WebhookDeliveryRows.ReadAsync(cmd, ct);
    }

    public async Task<int> RequeueAsync(string endpointId, string? deliveryId, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            UPDATE webhook_deliveries SET status = 0, attempts = 0, next_attempt_at = $now, first_attempt_at = NULL
            WHERE endpoint_id = $endpoint AND ($id IS NULL OR id = $id)
              AND ($from IS NULL OR created_at >= $from) AND ($to IS NULL OR created_at < $to)
            """;
        cmd.Parameters.AddWithValue("$endpoint", endpointId);
        cmd.Parameters.AddWithValue("$id", (object?)deliveryId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$from", from is { } f ? f.ToUnixTimeMilliseconds() : DBNull.Value);
        cmd.Parameters.AddWithValue("$to", to is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<long> PruneAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM webhook_deliveries WHERE status <> 0 AND created_at < $before";
        cmd.Parameters.AddWithValue("$before", before.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<long> DeleteForEmailsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        if (emailIds.Count == 0) return 0;
        await InitializeAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM webhook_deliveries WHERE email_id = $email";
        var email = cmd.Parameters.Add("$email", SqliteType.Text);
        long deleted = 0;
        foreach (var id in emailIds)
        {
            email.Value = id;
            deleted += await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return deleted;
    }

    private static void BindDelivery(SqliteCommand cmd, WebhookDelivery d)
    {
        cmd.Parameters.AddWithValue("$id", d.Id);
        cmd.Parameters.AddWithValue("$endpoint", d.EndpointId);
        cmd.Parameters.AddWithValue("$email", d.EmailId);
        cmd.Parameters.AddWithValue("$ordering", d.Ordering);
        cmd.Parameters.AddWithValue("$event", d.EventId);
        cmd.Parameters.AddWithValue("$type", d.EventType);
        cmd.Parameters.AddWithValue("$payload", d.Payload);
        cmd.Parameters.AddWithValue("$created", d.CreatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$status", (int)d.Status);
        cmd.Parameters.AddWithValue("$attempts", d.Attempts);
        cmd.Parameters.AddWithValue("$next", d.NextAttemptAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$first", d.FirstAttemptAt is { } f ? f.ToUnixTimeMilliseconds() : DBNull.Value);
        cmd.Parameters.AddWithValue("$last", d.LastAttemptAt is { } l ? l.ToUnixTimeMilliseconds() : DBNull.Value);
        cmd.Parameters.AddWithValue("$code", (object?)d.LastStatusCode ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$response", (object?)d.LastResponse ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$error", (object?)d.LastError ?? DBNull.Value);
    }
}

using System.Text.Json;
using AkkaMail.OutboundWebhooks;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// Outbound webhook endpoints and deliveries in PostgreSQL (tables <c>webhook_endpoints</c>, <c>webhook_deliveries</c>;
/// the projection's offset in <c>projection_offsets</c>, in the same transaction as its deliveries). Times are Unix
/// milliseconds; secrets are stored as the protector encrypted them.
/// <para>
/// Several service processes may share the database, each with its own delivery worker polling <see cref="DueAsync"/>.
/// So that one delivery is never handed to two of them at once, <see cref="DueAsync"/> claims what it hands out for
/// this store (<see cref="Owner"/>, one per process) until <c>now + claimLease</c>: rows another owner holds under an
/// unexpired claim are passed over, and concurrent polls skip each other's locked rows (<c>FOR UPDATE SKIP LOCKED</c>).
/// The same owner gets its own claimed rows back (renewing the claim), as the worker expects of a read. Recording an
/// attempt releases the claim; a process that dies holding claims delays those deliveries by at most the lease.
/// </para>
/// </summary>
public sealed class PostgresWebhookStore(PostgresDatabase db, TimeSpan? claimLease = null) : IWebhookEndpointStore, IWebhookDeliveryStore
{
    /// <summary>How long a claim keeps other processes off a delivery; renewed at each poll of its owner. Longer than an
    /// attempt's wait in its lane and its timeout, so that a live owner's claim does not lapse mid-attempt.</summary>
    public static readonly TimeSpan DefaultClaimLease = TimeSpan.FromMinutes(2);

    private readonly long _leaseMs = (long)(claimLease ?? DefaultClaimLease).TotalMilliseconds;

    /// <summary>This store's claim mark: unique per instance, so per process.</summary>
    public string Owner { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    private static NpgsqlParameter P(string name, object? value, NpgsqlDbType type) => PostgresDatabase.Parameter(name, value, type);

    // ---- endpoints ----

    private const string EndpointColumns =
        "id, user_id, url, event_types, tags, enabled, disabled_reason, secrets, consecutive_failures, created_at, updated_at, description";

    public async Task CreateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"""
            INSERT INTO webhook_endpoints ({EndpointColumns})
            VALUES (@id, @user, @url, @types, @tags, @enabled, @reason, @secrets, @failures, @created, @updated, @description)
            """);
        BindEndpoint(cmd, endpoint);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<WebhookEndpoint?> GetAsync(string id, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"SELECT {EndpointColumns} FROM webhook_endpoints WHERE id = @id");
        cmd.Parameters.Add(P("id", id, NpgsqlDbType.Text));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? ReadEndpoint(r) : null;
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string? userId, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command(userId is null
            ? $"SELECT {EndpointColumns} FROM webhook_endpoints ORDER BY created_at, id"
            : $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE user_id = @user ORDER BY created_at, id");
        if (userId is not null) cmd.Parameters.Add(P("user", userId, NpgsqlDbType.Text));
        var list = new List<WebhookEndpoint>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(ReadEndpoint(r));
        return list;
    }

    public async Task<bool> UpdateAsync(WebhookEndpoint endpoint, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("""
            UPDATE webhook_endpoints SET user_id = @user, url = @url, event_types = @types, tags = @tags, enabled = @enabled,
                disabled_reason = @reason, secrets = @secrets, consecutive_failures = @failures, created_at = @created,
                updated_at = @updated, description = @description
            WHERE id = @id
            """);
        BindEndpoint(cmd, endpoint);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Deletes the endpoint and its deliveries, in one transaction.</summary>
    public async Task<bool> DeleteAsync(string id, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(c, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("DELETE FROM webhook_deliveries WHERE endpoint_id = @id") { Parameters = { P("id", id, NpgsqlDbType.Text) } },
                new NpgsqlBatchCommand("DELETE FROM webhook_endpoints WHERE id = @id") { Parameters = { P("id", id, NpgsqlDbType.Text) } },
            },
        };
        await batch.ExecuteNonQueryAsync(ct);
        var deleted = batch.BatchCommands[1].RecordsAffected > 0;
        await tx.CommitAsync(ct);
        return deleted;
    }

    /// <summary>The run of failures and the disabling are read and written under the endpoint's row lock, so that of
    /// several processes recording at once exactly one disables it (and says so).</summary>
    public async Task<bool> RecordResultAsync(string id, bool succeeded, int disableAfter, string reason, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        if (succeeded)
        {
            await using var reset = db.Command("UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = @id");
            reset.Parameters.Add(P("id", id, NpgsqlDbType.Text));
            await reset.ExecuteNonQueryAsync(ct);
            return false;
        }
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        bool wasEnabled;
        int failures;
        await using (var read = new NpgsqlCommand("SELECT enabled, consecutive_failures FROM webhook_endpoints WHERE id = @id FOR UPDATE", c, tx))
        {
            read.Parameters.Add(P("id", id, NpgsqlDbType.Text));
            await using var r = await read.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) return false;
            wasEnabled = r.GetBoolean(0);
            failures = r.GetInt32(1) + 1;
        }
        var disables = wasEnabled && failures >= disableAfter;
        await using (var write = new NpgsqlCommand(disables
                         ? "UPDATE webhook_endpoints SET consecutive_failures = @f, enabled = false, disabled_reason = @reason, updated_at = @now WHERE id = @id"
                         : "UPDATE webhook_endpoints SET consecutive_failures = @f WHERE id = @id", c, tx))
        {
            write.Parameters.Add(P("id", id, NpgsqlDbType.Text));
            write.Parameters.Add(P("f", failures, NpgsqlDbType.Integer));
            if (disables)
            {
                write.Parameters.Add(P("reason", reason, NpgsqlDbType.Text));
                write.Parameters.Add(P("now", now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
            }
            await write.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return disables;
    }

    private static void BindEndpoint(NpgsqlCommand cmd, WebhookEndpoint e)
    {
        cmd.Parameters.Add(P("id", e.Id, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("user", e.UserId, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("url", e.Url, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("types", e.EventTypes.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        cmd.Parameters.Add(P("tags", e.Tags.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        cmd.Parameters.Add(P("enabled", e.Enabled, NpgsqlDbType.Boolean));
        cmd.Parameters.Add(P("reason", e.DisabledReason, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("secrets", JsonSerializer.Serialize(e.Secrets), NpgsqlDbType.Text));
        cmd.Parameters.Add(P("failures", e.ConsecutiveFailures, NpgsqlDbType.Integer));
        cmd.Parameters.Add(P("created", e.CreatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("updated", e.UpdatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("description", e.Description, NpgsqlDbType.Text));
    }

    private static WebhookEndpoint ReadEndpoint(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2),
        r.GetFieldValue<string[]>(3),
        r.GetFieldValue<string[]>(4),
        r.GetBoolean(5), r.IsDBNull(6) ? null : r.GetString(6),
        JsonSerializer.Deserialize<WebhookSecret[]>(r.GetString(7)) ?? [],
        r.GetInt32(8), Time(r.GetInt64(9)), Time(r.GetInt64(10)), r.IsDBNull(11) ? null : r.GetString(11));

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    // ---- deliveries ----

    private const string DeliveryColumns =
        "id, endpoint_id, email_id, ordering, event_id, event_type, payload, created_at, status, attempts, next_attempt_at, " +
        "first_attempt_at, last_attempt_at, last_status_code, last_response, last_error";

    public async Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("SELECT ordering FROM projection_offsets WHERE name = @n");
        cmd.Parameters.Add(P("n", projection, NpgsqlDbType.Text));
        return await cmd.ExecuteScalarAsync(ct) is long offset ? offset : 0;
    }

    /// <summary>The deliveries not already stored (by id) and the offset, in one transaction: the offset never runs
    /// ahead of the deliveries it covers.</summary>
    public async Task StoreAsync(string projection, IReadOnlyCollection<WebhookDelivery> deliveries, long offset, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(c, tx);
        foreach (var d in deliveries)
        {
            var insert = new NpgsqlBatchCommand(InsertDelivery);
            BindDelivery(insert.Parameters, d);
            batch.BatchCommands.Add(insert);
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            INSERT INTO projection_offsets (name, ordering, updated_at) VALUES (@n, @o, @t)
            ON CONFLICT (name) DO UPDATE SET ordering = excluded.ordering, updated_at = excluded.updated_at
            """)
        {
            Parameters =
            {
                P("n", projection, NpgsqlDbType.Text),
                P("o", offset, NpgsqlDbType.Bigint),
                P("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint),
            },
        });
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    private const string InsertDelivery = $"""
        INSERT INTO webhook_deliveries ({DeliveryColumns}) VALUES (@id, @endpoint, @email, @ordering, @event, @type, @payload,
            @created, @status, @attempts, @next, @first, @last, @code, @response, @error)
        ON CONFLICT (id) DO NOTHING
        """;

    public async Task AddAsync(WebhookDelivery delivery, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command(InsertDelivery);
        BindDelivery(cmd.Parameters, delivery);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The due heads of their emails that no other owner holds, claimed for this one (see the class): selected and
    /// locked with <c>SKIP LOCKED</c>, so two processes polling at once split the rows between them, and a row claimed
    /// by a poll that committed meanwhile is rechecked against its claim and passed over.
    /// </summary>
    public async Task<IReadOnlyList<WebhookDelivery>> DueAsync(string endpointId, DateTimeOffset now, int limit, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"""
            WITH due AS (
                SELECT d.id FROM webhook_deliveries d
                WHERE d.endpoint_id = @endpoint AND d.status = 0 AND d.next_attempt_at <= @now
                  AND (d.claimed_by IS NULL OR d.claimed_by = @owner OR d.claimed_until <= @now)
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                                  WHERE p.endpoint_id = d.endpoint_id AND p.status = 0 AND p.email_id = d.email_id
                                    AND (p.ordering < d.ordering OR (p.ordering = d.ordering AND p.id < d.id)))
                ORDER BY d.ordering, d.id
                LIMIT @limit
                FOR UPDATE OF d SKIP LOCKED),
            claimed AS (
                UPDATE webhook_deliveries w SET claimed_by = @owner, claimed_until = @until
                FROM due WHERE w.id = due.id
                RETURNING {string.Join(", ", DeliveryColumns.Split(", ").Select(column => "w." + column))})
            SELECT {DeliveryColumns} FROM claimed ORDER BY ordering, id
            """);
        cmd.Parameters.Add(P("endpoint", endpointId, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("now", now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("until", now.ToUnixTimeMilliseconds() + _leaseMs, NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("owner", Owner, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("limit", limit, NpgsqlDbType.Integer));
        return await WebhookDeliveryRows.ReadAsync(cmd, ct);
    }

    /// <summary>Stores the attempt's outcome and releases the claim: a retry falls due to whichever process polls first.</summary>
    public async Task SaveAttemptAsync(WebhookDelivery d, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("""
            UPDATE webhook_deliveries SET status = @status, attempts = @attempts, next_attempt_at = @next, first_attempt_at = @first,
                last_attempt_at = @last, last_status_code = @code, last_response = @response, last_error = @error,
                claimed_by = NULL, claimed_until = NULL
            WHERE id = @id
            """);
        BindDelivery(cmd.Parameters, d);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<WebhookDelivery?> GetAsync(string endpointId, string id, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE id = @id AND endpoint_id = @endpoint");
        cmd.Parameters.Add(P("id", id, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("endpoint", endpointId, NpgsqlDbType.Text));
        return (await WebhookDeliveryRows.ReadAsync(cmd, ct)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListAsync(string endpointId, int limit, string? after, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command(after is null
            ? $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE endpoint_id = @endpoint ORDER BY created_at DESC, id DESC LIMIT @limit"
            : $"""
               SELECT {string.Join(", ", DeliveryColumns.Split(", ").Select(column => "d." + column))}
               FROM webhook_deliveries d, (SELECT created_at AS c FROM webhook_deliveries WHERE id = @after) a
               WHERE d.endpoint_id = @endpoint AND (d.created_at < a.c OR (d.created_at = a.c AND d.id < @after))
               ORDER BY d.created_at DESC, d.id DESC LIMIT @limit
               """);
        cmd.Parameters.Add(P("endpoint", endpointId, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("limit", limit, NpgsqlDbType.Integer));
        if (after is not null) cmd.Parameters.Add(P("after", after, NpgsqlDbType.Text));
        return await WebhookDeliveryRows.ReadAsync(cmd, ct);
    }

    /// <summary>A claim stays: a delivery requeued while another process attempts it is not handed out again until that
    /// attempt is recorded (or the claim lapses).</summary>
    public async Task<int> RequeueAsync(string endpointId, string? deliveryId, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now,
        CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("""
            UPDATE webhook_deliveries SET status = 0, attempts = 0, next_attempt_at = @now, first_attempt_at = NULL
            WHERE endpoint_id = @endpoint AND (@id::text IS NULL OR id = @id)
              AND (@from::bigint IS NULL OR created_at >= @from) AND (@to::bigint IS NULL OR created_at < @to)
            """);
        cmd.Parameters.Add(P("endpoint", endpointId, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("id", deliveryId, NpgsqlDbType.Text));
        cmd.Parameters.Add(P("from", from?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("to", to?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        cmd.Parameters.Add(P("now", now.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<long> PruneAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("DELETE FROM webhook_deliveries WHERE status <> 0 AND created_at < @before");
        cmd.Parameters.Add(P("before", before.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<long> DeleteForEmailsAsync(IReadOnlyCollection<string> emailIds, CancellationToken ct = default)
    {
        if (emailIds.Count == 0) return 0;
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("DELETE FROM webhook_deliveries WHERE email_id = ANY (@ids)");
        cmd.Parameters.Add(P("ids", emailIds.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    private static void BindDelivery(NpgsqlParameterCollection p, WebhookDelivery d)
    {
        p.Add(P("id", d.Id, NpgsqlDbType.Text));
        p.Add(P("endpoint", d.EndpointId, NpgsqlDbType.Text));
        p.Add(P("email", d.EmailId, NpgsqlDbType.Text));
        p.Add(P("ordering", d.Ordering, NpgsqlDbType.Bigint));
        p.Add(P("event", d.EventId, NpgsqlDbType.Text));
        p.Add(P("type", d.EventType, NpgsqlDbType.Text));
        p.Add(P("payload", d.Payload, NpgsqlDbType.Text));
        p.Add(P("created", d.CreatedAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        p.Add(P("status", (int)d.Status, NpgsqlDbType.Integer));
        p.Add(P("attempts", d.Attempts, NpgsqlDbType.Integer));
        p.Add(P("next", d.NextAttemptAt.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        p.Add(P("first", d.FirstAttemptAt?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        p.Add(P("last", d.LastAttemptAt?.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint));
        p.Add(P("code", d.LastStatusCode, NpgsqlDbType.Integer));
        p.Add(P("response", d.LastResponse, NpgsqlDbType.Text));
        p.Add(P("error", d.LastError, NpgsqlDbType.Text));
    }
}

using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// One PostgreSQL database of the stores: a pooled Npgsql data source and the schema, created or brought up to date
/// once per instance, whichever store is initialized first. Nothing dials the server before a store is used.
/// </summary>
public sealed class PostgresDatabase(string connectionString) : IDisposable, IAsyncDisposable
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(connectionString);
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private volatile bool _schemaReady;

    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct = default) => _source.OpenConnectionAsync(ct);

    /// <summary>A command on its own pooled connection (opened and returned around its execution).</summary>
    public NpgsqlCommand Command(string sql) => _source.CreateCommand(sql);

    /// <summary>Creates or updates every table and index of the stores (<see cref="PostgresSchema"/>); once per
    /// instance, and idempotent: every node of a cluster may run it at the same start.</summary>
    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        if (_schemaReady) return;
        await _schemaGate.WaitAsync(ct);
        try
        {
            if (_schemaReady) return;
            await using var c = await OpenAsync(ct);
            await using var tx = await c.BeginTransactionAsync(ct);
            // CREATE ... IF NOT EXISTS of two sessions at once can still collide on the catalog's unique keys: one
            // creator at a time, across processes (released at commit).
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('akkamail-stores-schema'))", c, tx))
                await lockCommand.ExecuteNonQueryAsync(ct);
            await using (var ddl = new NpgsqlCommand(PostgresSchema.Script, c, tx))
                await ddl.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            _schemaReady = true;
        }
        finally
        {
            _schemaGate.Release();
        }
    }

    public void Dispose() => _source.Dispose();

    public ValueTask DisposeAsync() => _source.DisposeAsync();

    public static NpgsqlParameter Parameter(string name, object? value, NpgsqlDbType type) =>
        new(name, type) { Value = value ?? DBNull.Value };
}

/// <summary>
/// The stores' tables. Times are Unix milliseconds (bigint), as in the SQLite stores. Ids and addresses compare
/// byte-wise (<c>COLLATE "C"</c>): pages ordered by them follow the order the cursors compare in, whatever the
/// database's locale. Changes to come are added here as idempotent statements (<c>ADD COLUMN IF NOT EXISTS</c>).
/// </summary>
public static class PostgresSchema
{
    /// <summary>Phases whose send is not settled: what the dispatch sweep looks for (a partial index holds just them).</summary>
    public static readonly string[] UnsettledPhases = { "Queued", "Scheduled", "Sending", "RetryWaiting" };

    public static readonly string Script = $"""
        CREATE TABLE IF NOT EXISTS emails (
            id text COLLATE "C" PRIMARY KEY,
            user_id text COLLATE "C" NOT NULL,
            status text NOT NULL,
            phase text NOT NULL,
            created_at bigint NOT NULL,
            provider_message_id text NULL,
            recipients text[] NOT NULL,
            tags text[] NOT NULL,
            version bigint NOT NULL,
            doc bytea NOT NULL);
        CREATE INDEX IF NOT EXISTS ix_emails_user_created ON emails (user_id, created_at DESC, id DESC);
        CREATE INDEX IF NOT EXISTS ix_emails_provider_message_id ON emails (provider_message_id);
        CREATE INDEX IF NOT EXISTS ix_emails_unsettled ON emails (id)
            WHERE phase IN ({string.Join(", ", UnsettledPhases.Select(p => $"'{p}'"))});
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS settled_at bigint NULL;
        CREATE INDEX IF NOT EXISTS ix_emails_settled ON emails (settled_at, id) WHERE settled_at IS NOT NULL;
        -- Search (EmailSearch): the email's tokens; null in rows stored before it until they change or the read model is rebuilt.
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS search tsvector NULL;
        CREATE INDEX IF NOT EXISTS ix_emails_search ON emails USING GIN (search);
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS awaiting_report_from text NULL;
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS awaiting_report_since bigint NULL;
        CREATE INDEX IF NOT EXISTS ix_emails_awaiting_report ON emails (awaiting_report_from, awaiting_report_since, id)
            WHERE awaiting_report_from IS NOT NULL;
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS body_bytes bigint NOT NULL DEFAULT 0;
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS bodies_removed_at bigint NULL;
        ALTER TABLE emails ADD COLUMN IF NOT EXISTS view_bytes bigint NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS ix_emails_storage ON emails (user_id) INCLUDE (body_bytes, bodies_removed_at, view_bytes);
        CREATE TABLE IF NOT EXISTS projection_offsets (
            name text PRIMARY KEY,
            ordering bigint NOT NULL,
            updated_at bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS suppressions (
            user_id text COLLATE "C" NOT NULL,
            address text COLLATE "C" NOT NULL,
            reason text NOT NULL,
            created_at bigint NOT NULL,
            email_id text NULL,
            PRIMARY KEY (user_id, address));
        CREATE TABLE IF NOT EXISTS erasures (
            id text COLLATE "C" PRIMARY KEY,
            completed boolean NOT NULL,
            requested_at bigint NOT NULL,
            doc bytea NOT NULL);
        CREATE INDEX IF NOT EXISTS ix_erasures_pending ON erasures (requested_at, id) WHERE NOT completed;
        CREATE TABLE IF NOT EXISTS suppression_lifts (
            user_id text COLLATE "C" NOT NULL,
            address text COLLATE "C" NOT NULL,
            lifted_at bigint NOT NULL,
            PRIMARY KEY (user_id, address));
        CREATE TABLE IF NOT EXISTS users (
            id text COLLATE "C" PRIMARY KEY,
            name text NOT NULL,
            is_admin boolean NOT NULL,
            default_from text NULL,
            created_at bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS api_keys (
            id text COLLATE "C" PRIMARY KEY,
            user_id text COLLATE "C" NOT NULL REFERENCES users (id),
            key_hash text NOT NULL UNIQUE,
            created_at bigint NOT NULL,
            revoked_at bigint NULL);
        CREATE INDEX IF NOT EXISTS ix_api_keys_user ON api_keys (user_id, created_at);
        CREATE TABLE IF NOT EXISTS webhook_tokens (
            token text PRIMARY KEY,
            expires_at bigint NOT NULL);
        CREATE INDEX IF NOT EXISTS ix_webhook_tokens_expires_at ON webhook_tokens (expires_at);
        CREATE TABLE IF NOT EXISTS templates (
            user_id text COLLATE "C" NOT NULL,
            name text COLLATE "C" NOT NULL,
            last_version integer NOT NULL,
            created_at bigint NOT NULL,
            deleted boolean NOT NULL DEFAULT false,
            PRIMARY KEY (user_id, name));
        CREATE TABLE IF NOT EXISTS template_versions (
            user_id text COLLATE "C" NOT NULL,
            name text COLLATE "C" NOT NULL,
            version integer NOT NULL,
            subject text NOT NULL,
            text text NULL,
            html text NULL,
            strict boolean NOT NULL,
            created_at bigint NOT NULL,
            PRIMARY KEY (user_id, name, version));
        CREATE TABLE IF NOT EXISTS webhook_endpoints (
            id text COLLATE "C" PRIMARY KEY,
            user_id text COLLATE "C" NOT NULL,
            url text NOT NULL,
            event_types text[] NOT NULL,
            tags text[] NOT NULL,
            enabled boolean NOT NULL,
            disabled_reason text NULL,
            secrets text NOT NULL,
            consecutive_failures integer NOT NULL,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            description text NULL);
        CREATE INDEX IF NOT EXISTS ix_webhook_endpoints_user ON webhook_endpoints (user_id, created_at, id);
        CREATE TABLE IF NOT EXISTS webhook_deliveries (
            id text COLLATE "C" PRIMARY KEY,
            endpoint_id text COLLATE "C" NOT NULL,
            email_id text COLLATE "C" NOT NULL,
            ordering bigint NOT NULL,
            event_id text NOT NULL,
            event_type text NOT NULL,
            payload text NOT NULL,
            created_at bigint NOT NULL,
            status integer NOT NULL,
            attempts integer NOT NULL,
            next_attempt_at bigint NOT NULL,
            first_attempt_at bigint NULL,
            last_attempt_at bigint NULL,
            last_status_code integer NULL,
            last_response text NULL,
            last_error text NULL,
            claimed_by text NULL,
            claimed_until bigint NULL);
        CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_pending ON webhook_deliveries (endpoint_id, email_id, ordering, id)
            WHERE status = 0;
        CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
        """;
}

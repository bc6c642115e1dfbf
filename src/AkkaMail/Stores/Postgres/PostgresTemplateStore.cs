using AkkaMail.Templates;
using Npgsql;
using NpgsqlTypes;

namespace AkkaMail.Stores.Postgres;

/// <summary>
/// Templates in PostgreSQL: <c>templates</c> (one row per user and name: its last version and whether it is deleted) and
/// <c>template_versions</c> (every version, never changed). The next version number is taken by one statement on the
/// template's row (an upsert or an update, which holds the row's lock until commit) in the same transaction as the
/// version's insert: several processes adding to one template at once get distinct consecutive versions, and two
/// creating one name at once get one template and one refusal.
/// </summary>
public sealed class PostgresTemplateStore(PostgresDatabase db) : ITemplateStore
{
    public Task InitializeAsync(CancellationToken ct = default) => db.EnsureSchemaAsync(ct);

    public Task<StoredTemplate?> CreateAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default) =>
        AddAsync(userId, name, definition, at, """
            INSERT INTO templates (user_id, name, last_version, created_at, deleted) VALUES (@u, @n, 1, @at, false)
            ON CONFLICT (user_id, name) DO UPDATE SET last_version = templates.last_version + 1, created_at = excluded.created_at, deleted = false
            WHERE templates.deleted
            RETURNING last_version, created_at
            """, ct);

    public Task<StoredTemplate?> AddVersionAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default) =>
        AddAsync(userId, name, definition, at, """
            UPDATE templates SET last_version = last_version + 1 WHERE user_id = @u AND name = @n AND NOT deleted
            RETURNING last_version, created_at
            """, ct);

    /// <summary>Takes the next version with <paramref name="takeVersion"/> (no row: the template is not in the state the
    /// call needs) and stores its content, in one transaction.</summary>
    private async Task<StoredTemplate?> AddAsync(string userId, string name, TemplateDefinition d, DateTimeOffset at, string takeVersion,
        CancellationToken ct)
    {
        await db.EnsureSchemaAsync(ct);
        var atMs = at.ToUnixTimeMilliseconds();
        await using var c = await db.OpenAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        int version;
        long createdAt;
        await using (var take = new NpgsqlCommand(takeVersion, c, tx))
        {
            take.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            take.Parameters.Add(PostgresDatabase.Parameter("n", name, NpgsqlDbType.Text));
            take.Parameters.Add(PostgresDatabase.Parameter("at", atMs, NpgsqlDbType.Bigint));
            await using var r = await take.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) return null; // the transaction rolls back on disposal
            version = r.GetInt32(0);
            createdAt = r.GetInt64(1);
        }
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO template_versions (user_id, name, version, subject, text, html, strict, created_at)
            VALUES (@u, @n, @v, @s, @t, @h, @strict, @at)
            """, c, tx))
        {
            insert.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
            insert.Parameters.Add(PostgresDatabase.Parameter("n", name, NpgsqlDbType.Text));
            insert.Parameters.Add(PostgresDatabase.Parameter("v", version, NpgsqlDbType.Integer));
            insert.Parameters.Add(PostgresDatabase.Parameter("s", d.Subject, NpgsqlDbType.Text));
            insert.Parameters.Add(PostgresDatabase.Parameter("t", d.Text, NpgsqlDbType.Text));
            insert.Parameters.Add(PostgresDatabase.Parameter("h", d.Html, NpgsqlDbType.Text));
            insert.Parameters.Add(PostgresDatabase.Parameter("strict", d.Strict, NpgsqlDbType.Boolean));
            insert.Parameters.Add(PostgresDatabase.Parameter("at", atMs, NpgsqlDbType.Bigint));
            await insert.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new StoredTemplate(name, version, d, DateTimeOffset.FromUnixTimeMilliseconds(createdAt), DateTimeOffset.FromUnixTimeMilliseconds(atMs));
    }

    private const string Select = """
        SELECT t.name, v.version, v.subject, v.text, v.html, v.strict, t.created_at, v.created_at
        FROM templates t JOIN template_versions v ON v.user_id = t.user_id AND v.name = t.name
        """;

    public async Task<StoredTemplate?> GetAsync(string userId, string name, int? version = null, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"{Select} WHERE t.user_id = @u AND t.name = @n AND NOT t.deleted AND v.version = "
                                         + (version is null ? "t.last_version" : "@v"));
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("n", name, NpgsqlDbType.Text));
        if (version is { } v) cmd.Parameters.Add(PostgresDatabase.Parameter("v", v, NpgsqlDbType.Integer));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : null;
    }

    public async Task<IReadOnlyList<StoredTemplate>> ListAsync(string userId, int limit, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command($"{Select} WHERE t.user_id = @u AND NOT t.deleted AND v.version = t.last_version ORDER BY t.name LIMIT @l");
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("l", limit, NpgsqlDbType.Integer));
        var list = new List<StoredTemplate>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Read(r));
        return list;
    }

    public async Task<bool> DeleteAsync(string userId, string name, CancellationToken ct = default)
    {
        await db.EnsureSchemaAsync(ct);
        await using var cmd = db.Command("UPDATE templates SET deleted = true WHERE user_id = @u AND name = @n AND NOT deleted");
        cmd.Parameters.Add(PostgresDatabase.Parameter("u", userId, NpgsqlDbType.Text));
        cmd.Parameters.Add(PostgresDatabase.Parameter("n", name, NpgsqlDbType.Text));
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    private static StoredTemplate Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetInt32(1),
        new TemplateDefinition(r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetBoolean(5)),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)));
}

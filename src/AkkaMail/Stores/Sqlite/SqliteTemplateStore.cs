using AkkaMail.Templates;
using Microsoft.Data.Sqlite;

namespace AkkaMail.Stores.Sqlite;

/// <summary>
/// Templates in SQLite: <c>templates</c> (one row per user and name: its last version and whether it is deleted) and
/// <c>template_versions</c> (every version, never changed). A version is added in one immediate transaction with the
/// row's increment, so two concurrent updates get two versions, never one number twice.
/// </summary>
public sealed class SqliteTemplateStore(SqliteDatabase db) : ITemplateStore
{
    public async Task InitializeAsync(CancellationToken ct = default)
    {
        SqliteDatabase.EnsureWal(db.Path);
        await using var c = await db.OpenAsync(ct);
        await SqliteDatabase.ExecAsync(c, """
            CREATE TABLE IF NOT EXISTS templates (
                user_id TEXT NOT NULL, name TEXT NOT NULL, last_version INTEGER NOT NULL, created_at INTEGER NOT NULL,
                deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (user_id, name));
            CREATE TABLE IF NOT EXISTS template_versions (
                user_id TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, subject TEXT NOT NULL, text TEXT NULL,
                html TEXT NULL, strict INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (user_id, name, version));
            """, ct);
    }

    public Task<StoredTemplate?> CreateAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default) =>
        AddAsync(userId, name, definition, at, create: true, ct);

    public Task<StoredTemplate?> AddVersionAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default) =>
        AddAsync(userId, name, definition, at, create: false, ct);

    private async Task<StoredTemplate?> AddAsync(string userId, string name, TemplateDefinition d, DateTimeOffset at, bool create, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        // Immediate: the write lock is taken before the read, so the version read is the one incremented.
        await SqliteDatabase.ExecAsync(c, "BEGIN IMMEDIATE", ct);
        try
        {
            long? lastVersion = null;
            var deleted = false;
            long createdAt = at.ToUnixTimeMilliseconds();
            await using (var read = c.CreateCommand())
            {
                read.CommandText = "SELECT last_version, deleted, created_at FROM templates WHERE user_id = $u AND name = $n";
                read.Parameters.AddWithValue("$u", userId);
                read.Parameters.AddWithValue("$n", name);
                await using var r = await read.ExecuteReaderAsync(ct);
                if (await r.ReadAsync(ct)) { lastVersion = r.GetInt64(0); deleted = r.GetInt64(1) == 1; createdAt = r.GetInt64(2); }
            }
            var live = lastVersion is not null && !deleted;
            if (create == live) { await SqliteDatabase.ExecAsync(c, "ROLLBACK", ct); return null; }
            var version = (int)(lastVersion ?? 0) + 1;
            if (create) createdAt = at.ToUnixTimeMilliseconds();
            await using (var write = c.CreateCommand())
            {
                write.CommandText = """
                    INSERT INTO templates (user_id, name, last_version, created_at, deleted) VALUES ($u, $n, $v, $c, 0)
                    ON CONFLICT (user_id, name) DO UPDATE SET last_version = $v, created_at = $c, deleted = 0;
                    INSERT INTO template_versions (user_id, name, version, subject, text, html, strict, created_at)
                    VALUES ($u, $n, $v, $s, $t, $h, $strict, $at);
                    """;
                write.Parameters.AddWithValue("$u", userId);
                write.Parameters.AddWithValue("$n", name);
                write.Parameters.AddWithValue("$v", version);
                write.Parameters.AddWithValue("$c", createdAt);
                write.Parameters.AddWithValue("$s", d.Subject);
                write.Parameters.AddWithValue("$t", (object?)d.Text ?? DBNull.Value);
                write.Parameters.AddWithValue("$h", (object?)d.Html ?? DBNull.Value);
                write.Parameters.AddWithValue("$strict", d.Strict ? 1 : 0);
                write.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
                await write.ExecuteNonQueryAsync(ct);
            }
            await SqliteDatabase.ExecAsync(c, "COMMIT", ct);
            return new StoredTemplate(name, version, d, DateTimeOffset.FromUnixTimeMilliseconds(createdAt),
                DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()));
        }
        catch
        {
            if (c.State == System.Data.ConnectionState.Open)
                try { await SqliteDatabase.ExecAsync(c, "ROLLBACK", CancellationToken.None); } catch (SqliteException) { /* none open */ }
            throw;
        }
    }

    private const string Select = """
        SELECT t.name, v.version, v.subject, v.text, v.html, v.strict, t.created_at, v.created_at
        FROM templates t JOIN template_versions v ON v.user_id = t.user_id AND v.name = t.name
        """;

    public async Task<StoredTemplate?> GetAsync(string userId, string name, int? version = null, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"{Select} WHERE t.user_id = $u AND t.name = $n AND t.deleted = 0 AND v.version = "
                          + (version is null ? "t.last_version" : "$v");
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$n", name);
        if (version is { } v) cmd.Parameters.AddWithValue("$v", v);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : null;
    }

    public async Task<IReadOnlyList<StoredTemplate>> ListAsync(string userId, int limit, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"{Select} WHERE t.user_id = $u AND t.deleted = 0 AND v.version = t.last_version ORDER BY t.name LIMIT $l";
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$l", limit);
        var list = new List<StoredTemplate>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Read(r));
        return list;
    }

    public async Task<bool> DeleteAsync(string userId, string name, CancellationToken ct = default)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE templates SET deleted = 1 WHERE user_id = $u AND name = $n AND deleted = 0";
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$n", name);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    private static StoredTemplate Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetInt32(1),
        new TemplateDefinition(r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetInt64(5) == 1),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)));
}

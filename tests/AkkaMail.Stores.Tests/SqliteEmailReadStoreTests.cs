using System.Text.Json;
using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>How the SQLite read model stores a view: UTF-8 JSON in a BLOB; rows written as TEXT before read the same.</summary>
public sealed class SqliteEmailReadStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"akkamail-readmodel-{Guid.NewGuid():N}");

    public SqliteEmailReadStoreTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { /* best effort */ }
    }

    private async Task<string> DocTypeAsync(SqliteDatabase db, string id)
    {
        await using var c = await db.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT typeof(doc) FROM emails WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_view_is_stored_as_UTF8_JSON_in_a_blob_and_a_view_stored_as_text_reads_the_same()
    {
        var db = new SqliteDatabase(Path.Combine(_dir, "read.db"));
        using var store = new SqliteEmailReadStore(db);
        await store.InitializeAsync();
        var view = EmailReadStoreContract.View("em_blob", tags: ["ünïcode ✓"]);
        await store.UpsertAsync([view]);
        Assert.Equal("blob", await DocTypeAsync(db, "em_blob"));

        // As an earlier version wrote it.
        await using (var c = await db.OpenAsync())
            await SqliteDatabase.ExecAsync(c, "UPDATE emails SET doc = CAST(doc AS TEXT) WHERE id = 'em_blob'");
        Assert.Equal("text", await DocTypeAsync(db, "em_blob"));

        var expected = JsonSerializer.Serialize(view);
        Assert.Equal(expected, JsonSerializer.Serialize(await store.GetAsync("em_blob")));
        var page = await store.ListAsync(new EmailQuery("usr_a", 10));
        Assert.Equal(expected, JsonSerializer.Serialize(Assert.Single(page.Items)));

        // The next change of that email is written as a blob again.
        await store.UpsertAsync([view with { Version = 2 }]);
        Assert.Equal("blob", await DocTypeAsync(db, "em_blob"));
    }

    [Fact]
    public async Task A_rebuild_keeps_the_hashed_suppressions_of_erased_addresses_and_drops_the_rest()
    {
        var db = new SqliteDatabase(Path.Combine(_dir, "reset.db"));
        using var store = new SqliteEmailReadStore(db);
        await store.InitializeAsync();
        var suppressions = new SqliteSuppressionStore(db);
        await suppressions.InitializeAsync();
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        await suppressions.AddAsync("usr_a", new AkkaMail.Suppressions.Suppression("erased@example.com", "bounced", t0, "em_1"));
        await suppressions.AddAsync("usr_a", new AkkaMail.Suppressions.Suppression("plain@example.com", "bounced", t0, "em_2"));
        Assert.Equal(1, await suppressions.HashAsync("usr_a", "erased@example.com"));

        await store.ResetAsync(EmailReadSideProjection.Name);
        await suppressions.RefreshAsync("usr_a");
        // The plain one comes back when the journal is replayed; the erased one has no event left to come back from.
        Assert.Null(await suppressions.GetAsync("usr_a", "plain@example.com"));
        Assert.Equal(new[] { "erased@example.com" },
            (await AkkaMail.Suppressions.SuppressionLookup.FindSuppressedAsync(suppressions, "usr_a", ["erased@example.com", "plain@example.com"])).Keys);
    }

    [Fact]
    public async Task A_deleted_emails_search_tokens_leave_the_file_and_emails_stored_before_search_are_indexed_at_start()
    {
        var path = Path.Combine(_dir, "search.db");
        var db = new SqliteDatabase(path);
        using (var store = new SqliteEmailReadStore(db))
        {
            await store.InitializeAsync();
            await store.UpsertAsync([EmailReadStoreContract.View("em_gone", to: ["qxerasedzz@wonder.test"]), EmailReadStoreContract.View("em_kept")]);
            Assert.Equal(["em_gone"], (await store.ListAsync(new EmailQuery("usr_a", 10) { Search = EmailSearch.Parse("qxerasedzz") })).Items.Select(v => v.Id));
            await store.DeleteAsync(["em_gone"]);
            await using (var c = await db.OpenAsync())
                await SqliteDatabase.ExecAsync(c, "PRAGMA wal_checkpoint(TRUNCATE);");
        }
        SqliteConnection.ClearAllPools();
        // Neither the index's pages (FTS5 secure-delete) nor the content row (secure_delete) keep the token.
        foreach (var file in Directory.GetFiles(_dir, "search.db*"))
            Assert.DoesNotContain("qxerasedzz", System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file)));

        // A read model written before search: its emails are indexed when the store starts.
        await using (var c = await db.OpenAsync())
            await SqliteDatabase.ExecAsync(c, "DROP TABLE email_search;");
        using (var store = new SqliteEmailReadStore(db))
        {
            await store.InitializeAsync();
            Assert.Equal(["em_kept"], (await store.ListAsync(new EmailQuery("usr_a", 10) { Search = EmailSearch.Parse("em_kept") })).Items.Select(v => v.Id));
        }
    }
}

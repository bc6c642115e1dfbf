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
            await SqliteDatabase.ExecAsync(c, "DROP TABLE email_search; ALTER TABLE emails DROP COLUMN search_key;");
        using (var store = new SqliteEmailReadStore(db))
        {
            await store.InitializeAsync();
            Assert.Equal(["em_kept"], (await store.ListAsync(new EmailQuery("usr_a", 10) { Search = EmailSearch.Parse("em_kept") })).Items.Select(v => v.Id));
        }
    }

    [Fact]
    public async Task A_search_with_many_matches_walks_the_newest_first_index_and_pages_like_one_with_few()
    {
        var db = new SqliteDatabase(Path.Combine(_dir, "many.db"));
        using var store = new SqliteEmailReadStore(db);
        await store.InitializeAsync();
        var t0 = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        var n = SqliteEmailReadStore.FewMatches + 300;
        var views = Enumerable.Range(0, n).Select(i => EmailReadStoreContract.View($"em_{i:D5}", created: t0.AddSeconds(i / 4),
            status: i % 3 == 0 ? "failed" : "sent", tags: [i % 10 != 0 ? "bulkword" : "other"])).ToList();
        views.Add(EmailReadStoreContract.View("em_theirs", user: "usr_b", tags: ["bulkword"]));
        await store.UpsertAsync(views);
        await using (var c = await db.OpenAsync())
        await using (var count = c.CreateCommand())
        {
            count.CommandText = "SELECT count(*) FROM email_search WHERE email_search MATCH 'bulkword'";
            Assert.True((long)(await count.ExecuteScalarAsync())! >= SqliteEmailReadStore.FewMatches, "enough matches for the index-driven plan");
        }

        async Task<List<string>> AllPages(string q, string? status)
        {
            var seen = new List<string>();
            ListPosition? after = null;
            do
            {
                var page = await store.ListAsync(new EmailQuery("usr_a", 97, Status: status, After: after) { Search = EmailSearch.Parse(q) });
                seen.AddRange(page.Items.Select(v => v.Id));
                after = page.Next;
            } while (after is not null);
            return seen;
        }
        List<string> Expected(Func<EmailView, bool> keep) => views.Where(v => v.UserId == "usr_a" && keep(v))
            .OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.Id, StringComparer.Ordinal).Select(v => v.Id).ToList();

        // Many matches (index-driven), with and without a filter; then few (match-driven): the same order and pages.
        Assert.Equal(Expected(v => v.Tags.Contains("bulkword")), await AllPages("bulkword", null));
        Assert.Equal(Expected(v => v.Tags.Contains("bulkword") && v.Status == "failed"), await AllPages("bulkword", "failed"));
        Assert.Equal(Expected(v => v.Id == "em_01234"), await AllPages("em_01234", null));
        Assert.Equal(Expected(v => v.Tags.Contains("bulkword") && v.Id.StartsWith("em_0012")), await AllPages("bulkword em_0012", null));
    }
}

using AkkaMail.ReadModel;
using AkkaMail.Stores.Sqlite;
using AkkaMail.Suppressions;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>The SQLite store's in-memory copy of each user's list (see <see cref="SqliteSuppressionStore"/>).</summary>
public sealed class SqliteSuppressionCacheTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"akkamail-suppr-{Guid.NewGuid():N}");

    public SqliteSuppressionCacheTests() => Directory.CreateDirectory(_dir);

    private SqliteDatabase Database() => new(Path.Combine(_dir, "read.db"));

    [Fact]
    public async Task A_store_started_on_an_existing_file_finds_what_was_stored_before()
    {
        var first = new SqliteSuppressionStore(Database());
        await first.InitializeAsync();
        Assert.Empty(await first.FindAsync("usr_a", ["bob@example.com"])); // loads (empty) list into the cache
        await first.AddAsync("usr_a", new Suppression("bob@example.com", "complained", T0, null));

        var restarted = new SqliteSuppressionStore(Database());
        await restarted.InitializeAsync();
        Assert.Equal("complained", (await restarted.FindAsync("usr_a", ["bob@example.com"]))["bob@example.com"]);
    }

    [Fact]
    public async Task A_list_longer_than_the_cache_limit_is_answered_from_the_database()
    {
        var store = new SqliteSuppressionStore(Database(), cachedAddressesPerUser: 5);
        await store.InitializeAsync();
        for (var i = 0; i < 7; i++)
            await store.AddAsync("usr_a", new Suppression($"a{i}@example.com", i == 6 ? "complained" : "bounced", T0, null));
        var all = Enumerable.Range(0, 8).Select(i => $"a{i}@example.com").ToList();
        var found = await store.FindAsync("usr_a", all);
        Assert.Equal(7, found.Count);
        Assert.Equal("complained", found["a6@example.com"]);

        // Still exact after changes, though nothing is cached for this user.
        Assert.True(await store.RemoveAsync("usr_a", "a6@example.com"));
        await store.AddAsync("usr_a", new Suppression("a7@example.com", "manual", T0, null));
        found = await store.FindAsync("usr_a", all);
        Assert.Equal(7, found.Count);
        Assert.False(found.ContainsKey("a6@example.com"));
        Assert.Equal("manual", found["a7@example.com"]);

        // A short list of another user is cached, and stays exact.
        await store.AddAsync("usr_b", new Suppression("a0@example.com", "bounced", T0, null));
        Assert.Single(await store.FindAsync("usr_b", all));
        await store.AddAsync("usr_b", new Suppression("a1@example.com", "bounced", T0, null));
        Assert.Equal(2, (await store.FindAsync("usr_b", all)).Count);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}

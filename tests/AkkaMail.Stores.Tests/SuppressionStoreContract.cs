using AkkaMail.Suppressions;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every <see cref="ISuppressionStore"/> must do. Each test works on a fresh, empty store.</summary>
public abstract class SuppressionStoreContract(IStoreBackend backend)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private async Task<ISuppressionStore> NewStoreAsync()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewSuppressionStore();
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        return store;
    }

    [SkippableFact]
    public async Task Adds_and_gets_by_normalized_address_keeping_the_first_reason()
    {
        var store = await NewStoreAsync();
        await store.AddAsync("usr_a", new Suppression("Bob <BOB@Example.com>", "bounced", T0, "em_1"));
        Assert.Equal(new Suppression("bob@example.com", "bounced", T0, "em_1"), await store.GetAsync("usr_a", "bob@example.com"));
        Assert.Equal(new Suppression("bob@example.com", "bounced", T0, "em_1"), await store.GetAsync("usr_a", " BOB@example.COM "));

        await store.AddAsync("usr_a", new Suppression("bob@example.com", "complained", T0.AddHours(1), null));
        Assert.Equal("bounced", (await store.GetAsync("usr_a", "bob@example.com"))?.Reason);

        await store.AddAsync("usr_a", new Suppression("carol@example.com", "manual", T0, null));
        Assert.Equal(new Suppression("carol@example.com", "manual", T0, null), await store.GetAsync("usr_a", "carol@example.com"));

        Assert.Null(await store.GetAsync("usr_b", "bob@example.com")); // per user
        Assert.Null(await store.GetAsync("usr_a", "dave@example.com"));
    }

    [SkippableFact]
    public async Task Concurrent_adds_of_one_address_keep_one()
    {
        var store = await NewStoreAsync();
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            store.AddAsync("usr_a", new Suppression("bob@example.com", $"r{i}", T0, null))));
        Assert.Single(await store.ListAsync("usr_a", 100, null));
    }

    [SkippableFact]
    public async Task Removes_an_address()
    {
        var store = await NewStoreAsync();
        await store.AddAsync("usr_a", new Suppression("bob@example.com", "bounced", T0, null));
        await store.AddAsync("usr_b", new Suppression("bob@example.com", "bounced", T0, null));
        Assert.False(await store.RemoveAsync("usr_a", "carol@example.com"));
        Assert.True(await store.RemoveAsync("usr_a", "BOB@example.com"));
        Assert.False(await store.RemoveAsync("usr_a", "bob@example.com"));
        Assert.Null(await store.GetAsync("usr_a", "bob@example.com"));
        Assert.NotNull(await store.GetAsync("usr_b", "bob@example.com"));

        await store.AddAsync("usr_a", new Suppression("bob@example.com", "manual", T0, null)); // can be added again
        Assert.Equal("manual", (await store.GetAsync("usr_a", "bob@example.com"))?.Reason);
    }

    [SkippableFact]
    public async Task Lists_in_address_order_page_by_page()
    {
        var store = await NewStoreAsync();
        var addresses = Enumerable.Range(0, 23).Select(i => $"user{i:D2}@example.com").Reverse().ToList();
        foreach (var a in addresses) await store.AddAsync("usr_a", new Suppression(a, "bounced", T0, null));
        await store.AddAsync("usr_b", new Suppression("zz@example.com", "bounced", T0, null));

        var seen = new List<string>();
        string? after = null;
        while (true)
        {
            var page = await store.ListAsync("usr_a", 10, after);
            seen.AddRange(page.Select(s => s.Address));
            if (page.Count < 10) break;
            after = page[^1].Address;
        }
        Assert.Equal(addresses.OrderBy(a => a, StringComparer.Ordinal), seen);
        Assert.Empty(await store.ListAsync("usr_c", 10, null));
    }

    [SkippableFact]
    public async Task Finds_which_of_many_addresses_are_suppressed_in_chunks()
    {
        var store = await NewStoreAsync();
        for (var i = 0; i < 1200; i += 100)
            await store.AddAsync("usr_a", new Suppression($"r{i}@example.com", i % 200 == 0 ? "bounced" : "complained", T0, null));
        await store.AddAsync("usr_b", new Suppression("r1@example.com", "bounced", T0, null));

        // 1,200 addresses (more than one chunk), some in another case and with a display name, some repeated.
        var wanted = Enumerable.Range(0, 1200).Select(i => i == 300 ? "R300 <R300@EXAMPLE.com>" : $"r{i}@example.com")
            .Append("r0@example.com").ToList();
        var found = await store.FindAsync("usr_a", wanted);
        Assert.Equal(12, found.Count);
        Assert.Equal("bounced", found["r0@example.com"]);
        Assert.Equal("complained", found["r300@example.com"]);
        Assert.False(found.ContainsKey("r1@example.com"));

        Assert.Empty(await store.FindAsync("usr_a", Array.Empty<string>()));
        Assert.Empty(await store.FindAsync("usr_c", wanted));
    }

    [SkippableFact]
    public async Task Finds_adds_and_removals_made_after_an_earlier_find()
    {
        var store = await NewStoreAsync();
        Assert.Empty(await store.FindAsync("usr_a", ["bob@example.com"]));
        await store.AddAsync("usr_a", new Suppression("Bob@Example.com", "bounced", T0, null));
        Assert.Equal("bounced", (await store.FindAsync("usr_a", ["BOB@example.com"]))["bob@example.com"]);
        await store.AddAsync("usr_a", new Suppression("bob@example.com", "complained", T0, null));
        Assert.Equal("bounced", (await store.FindAsync("usr_a", ["bob@example.com"]))["bob@example.com"]); // first reason kept
        Assert.Empty(await store.FindAsync("usr_b", ["bob@example.com"]));
        Assert.True(await store.RemoveAsync("usr_a", "bob@example.com"));
        Assert.Empty(await store.FindAsync("usr_a", ["bob@example.com"]));
    }

    [SkippableFact]
    public async Task Every_completed_add_is_found_while_finds_run_concurrently()
    {
        var store = await NewStoreAsync();
        for (var round = 0; round < 20; round++)
        {
            var user = $"usr_{round}";
            // The first find of a user (which may load a cached list) races with adds.
            var adds = Enumerable.Range(0, 5).Select(async i =>
            {
                var address = $"a{i}@example.com";
                await store.AddAsync(user, new Suppression(address, "bounced", T0, null));
                Assert.True((await store.FindAsync(user, [address])).ContainsKey(address), $"{user} {address}");
            });
            var finds = Enumerable.Range(0, 5).Select(_ => store.FindAsync(user, ["a0@example.com"]));
            await Task.WhenAll(adds.Concat(finds));
            Assert.Equal(5, (await store.FindAsync(user, Enumerable.Range(0, 5).Select(i => $"a{i}@example.com"))).Count);
        }
    }

    [SkippableFact]
    public async Task Hashing_an_address_keeps_it_suppressed_by_hash_only()
    {
        var store = await NewStoreAsync();
        await store.AddAsync("usr_a", new Suppression("gone@example.com", "bounced", T0, "em_1"));
        await store.AddAsync("usr_b", new Suppression("gone@example.com", "complained", T0, "em_2"));
        await store.AddAsync("usr_a", new Suppression("kept@example.com", "bounced", T0, "em_3"));
        // Seen by the cache (SQLite) before the erasure.
        Assert.Single(await store.FindSuppressedAsync("usr_a", new[] { "gone@example.com" }));

        Assert.Equal(1, await store.HashAsync("usr_a", "GONE@example.com"));
        var hash = AkkaMail.Erasure.AddressHashes.Of("usr_a", "gone@example.com");
        Assert.Null(await store.GetAsync("usr_a", "gone@example.com"));
        Assert.Equal(new Suppression(hash, "bounced", T0, null), await store.GetAsync("usr_a", hash));
        Assert.DoesNotContain(await store.ListAsync("usr_a", 100, null), x => x.Address.Contains("gone"));
        // The send path's look-up still finds it, by its hash; a plain look-up does not.
        Assert.Equal(new Dictionary<string, string> { ["gone@example.com"] = "bounced", ["kept@example.com"] = "bounced" },
            await store.FindSuppressedAsync("usr_a", new[] { "Gone <gone@example.com>", "kept@example.com", "new@example.com" }));
        Assert.Empty(await store.FindAsync("usr_a", new[] { "gone@example.com" }));
        // Another user's is untouched by a user's erasure, and hashed by one of every user (with that user's hash).
        Assert.NotNull(await store.GetAsync("usr_b", "gone@example.com"));
        Assert.Equal(1, await store.HashAsync(null, "gone@example.com"));
        Assert.Null(await store.GetAsync("usr_b", "gone@example.com"));
        Assert.Equal("complained", (await store.FindSuppressedAsync("usr_b", new[] { "gone@example.com" }))["gone@example.com"]);
        Assert.NotEqual(hash, AkkaMail.Erasure.AddressHashes.Of("usr_b", "gone@example.com"));
        Assert.Equal(0, await store.HashAsync(null, "gone@example.com"));
    }
}

public sealed class SqliteSuppressionStoreContract(SqliteBackend backend) : SuppressionStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbSuppressionStoreContract(MongoDbBackend backend) : SuppressionStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresSuppressionStoreContract(PostgresBackend backend) : SuppressionStoreContract(backend), IClassFixture<PostgresBackend>;

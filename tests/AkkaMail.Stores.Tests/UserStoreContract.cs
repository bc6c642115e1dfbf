using AkkaMail.Users;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every <see cref="IUserStore"/> must do. Each test works on a fresh, empty store.</summary>
public abstract class UserStoreContract(IStoreBackend backend)
{
    private async Task<IUserStore> NewStoreAsync()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewUserStore();
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        return store;
    }

    [SkippableFact]
    public async Task Creates_a_user_whose_key_authenticates()
    {
        var store = await NewStoreAsync();
        Assert.False(await store.AnyUserAsync());
        var created = await store.CreateUserAsync("alice", isAdmin: false, defaultFrom: "Alice <alice@example.com>");
        Assert.True(await store.AnyUserAsync());
        Assert.StartsWith("usr_", created.UserId);
        Assert.StartsWith("key_", created.KeyId);
        Assert.StartsWith(ApiKeys.Prefix, created.ApiKey);
        Assert.Equal("alice", created.Name);

        var expected = new UserIdentity(created.UserId, "alice", false, "Alice <alice@example.com>");
        // Authenticating tells which key it was (a revocation names it, to end the connections it opened).
        Assert.Equal(expected with { KeyId = created.KeyId }, await store.AuthenticateAsync(created.ApiKey));
        Assert.Equal(expected, await store.GetUserAsync(created.UserId));

        var admin = await store.CreateUserAsync("root", isAdmin: true, defaultFrom: null);
        Assert.Equal(new UserIdentity(admin.UserId, "root", true, null) { KeyId = admin.KeyId }, await store.AuthenticateAsync(admin.ApiKey));
        Assert.NotEqual(created.UserId, admin.UserId);
    }

    [SkippableFact]
    public async Task A_wrong_or_unknown_key_does_not_authenticate()
    {
        var store = await NewStoreAsync();
        var created = await store.CreateUserAsync("alice", false, null);
        Assert.Null(await store.AuthenticateAsync(created.ApiKey + "x"));
        Assert.Null(await store.AuthenticateAsync(created.ApiKey.ToUpperInvariant()));
        Assert.Null(await store.AuthenticateAsync(""));
        Assert.Null(await store.AuthenticateAsync(ApiKeys.NewKey()));
        Assert.Null(await store.AuthenticateAsync(ApiKeys.Hash(created.ApiKey))); // the stored hash is not a key
        Assert.Null(await store.GetUserAsync("usr_nobody"));
    }

    [SkippableFact]
    public async Task A_revoked_key_stops_at_once_and_the_others_keep_working()
    {
        var store = await NewStoreAsync();
        var alice = await store.CreateUserAsync("alice", false, null);
        var second = await store.CreateKeyAsync(alice.UserId);
        Assert.NotNull(second);
        Assert.Equal(alice.UserId, (await store.AuthenticateAsync(second!.ApiKey))?.UserId);
        Assert.Equal(second.KeyId, (await store.AuthenticateAsync(second.ApiKey))?.KeyId);

        var bob = await store.CreateUserAsync("bob", false, null);
        Assert.False(await store.RevokeKeyAsync(bob.UserId, alice.KeyId)); // not bob's key
        Assert.False(await store.RevokeKeyAsync(alice.UserId, "key_nope"));

        Assert.True(await store.RevokeKeyAsync(alice.UserId, alice.KeyId));
        Assert.Null(await store.AuthenticateAsync(alice.ApiKey));
        Assert.Equal(alice.UserId, (await store.AuthenticateAsync(second.ApiKey))?.UserId);
        Assert.Equal(bob.UserId, (await store.AuthenticateAsync(bob.ApiKey))?.UserId);
        Assert.False(await store.RevokeKeyAsync(alice.UserId, alice.KeyId)); // already revoked
    }

    [SkippableFact]
    public async Task Lists_a_users_keys_in_creation_order_with_revocation()
    {
        var store = await NewStoreAsync();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        // Creation order is kept at the stores' resolution (milliseconds): keys a few ms apart.
        var alice = await store.CreateUserAsync("alice", false, null);
        await Task.Delay(5);
        var k2 = await store.CreateKeyAsync(alice.UserId);
        await Task.Delay(5);
        var k3 = await store.CreateKeyAsync(alice.UserId);
        var bob = await store.CreateUserAsync("bob", false, null);
        Assert.True(await store.RevokeKeyAsync(alice.UserId, k2!.KeyId));

        var keys = await store.ListKeysAsync(alice.UserId);
        Assert.Equal(new[] { alice.KeyId, k2.KeyId, k3!.KeyId }, keys.Select(k => k.KeyId));
        Assert.All(keys, k => Assert.InRange(k.CreatedAt, before, DateTimeOffset.UtcNow.AddSeconds(1)));
        Assert.Null(keys[0].RevokedAt);
        Assert.NotNull(keys[1].RevokedAt);
        Assert.Null(keys[2].RevokedAt);
        Assert.Equal(new[] { bob.KeyId }, (await store.ListKeysAsync(bob.UserId)).Select(k => k.KeyId));
        Assert.Empty(await store.ListKeysAsync("usr_nobody"));
    }

    [SkippableFact]
    public async Task Lists_users_by_id_a_page_at_a_time_with_their_active_keys()
    {
        var store = await NewStoreAsync();
        Assert.Empty(await store.ListUsersAsync(10, null));
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var alice = await store.CreateUserAsync("alice", false, "Alice <alice@example.com>");
        var root = await store.CreateUserAsync("root", true, null);
        var carol = await store.CreateUserAsync("carol", false, null);
        Assert.NotNull(await store.CreateKeyAsync(alice.UserId));
        Assert.True(await store.RevokeKeyAsync(root.UserId, root.KeyId));
        var after = DateTimeOffset.UtcNow.AddSeconds(1);

        var all = await store.ListUsersAsync(10, null);
        var byId = new[] { alice.UserId, root.UserId, carol.UserId }.Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(byId, all.Select(u => u.UserId));
        Assert.All(all, u => Assert.InRange(u.CreatedAt, before, after));
        UserSummary Listed(string id) => all.Single(u => u.UserId == id);
        // Active keys: alice's two, root's one revoked, carol's first.
        Assert.Equal(new UserSummary(alice.UserId, "alice", false, "Alice <alice@example.com>", Listed(alice.UserId).CreatedAt, 2), Listed(alice.UserId));
        Assert.Equal(new UserSummary(root.UserId, "root", true, null, Listed(root.UserId).CreatedAt, 0), Listed(root.UserId));
        Assert.Equal(new UserSummary(carol.UserId, "carol", false, null, Listed(carol.UserId).CreatedAt, 1), Listed(carol.UserId));

        // Paging: each page starts after the last id of the one before; the last page is short, then nothing.
        var first = await store.ListUsersAsync(2, null);
        Assert.Equal(byId[..2], first.Select(u => u.UserId));
        var second = await store.ListUsersAsync(2, first[^1].UserId);
        Assert.Equal(byId[2..], second.Select(u => u.UserId));
        Assert.Empty(await store.ListUsersAsync(2, second[^1].UserId));
        // The cursor need not be a user's id: it is a position in the ordinal order of ids.
        Assert.Equal(byId, (await store.ListUsersAsync(10, "usr_")).Select(u => u.UserId));
        Assert.Equal(byId[1..], (await store.ListUsersAsync(10, byId[0] + "-")).Select(u => u.UserId));
        Assert.Empty(await store.ListUsersAsync(10, "usr_~"));
    }

    [SkippableFact]
    public async Task A_key_for_an_unknown_user_is_refused()
    {
        var store = await NewStoreAsync();
        Assert.Null(await store.CreateKeyAsync("usr_nobody"));
        Assert.False(await store.AnyUserAsync());
    }
}

public sealed class SqliteUserStoreContract(SqliteBackend backend) : UserStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbUserStoreContract(MongoDbBackend backend) : UserStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresUserStoreContract(PostgresBackend backend) : UserStoreContract(backend), IClassFixture<PostgresBackend>;

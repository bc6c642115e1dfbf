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

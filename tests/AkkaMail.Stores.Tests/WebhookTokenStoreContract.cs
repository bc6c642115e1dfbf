using AkkaMail.Providers;
using Microsoft.Extensions.Time.Testing;
using AkkaMail.Mailgun;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every database-backed <see cref="IWebhookTokenStore"/> must do. Each test works on a fresh store.</summary>
public abstract class WebhookTokenStoreContract(IStoreBackend backend)
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private IWebhookTokenStore NewStore()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        return backend.NewWebhookTokenStore(_clock);
    }

    [SkippableFact]
    public async Task Remembers_a_token_and_catches_its_replay()
    {
        var store = NewStore();
        var expires = _clock.GetUtcNow().AddMinutes(15);
        Assert.True(await store.TryRememberAsync("tok-1", expires, default));
        Assert.False(await store.TryRememberAsync("tok-1", expires, default));
        Assert.False(await store.TryRememberAsync("tok-1", expires.AddHours(1), default));
        Assert.True(await store.TryRememberAsync("tok-2", expires, default));
        Assert.True(await store.TryRememberAsync("TOK-1", expires, default)); // tokens are case-sensitive
    }

    [SkippableFact]
    public async Task Concurrent_deliveries_of_one_token_let_exactly_one_through()
    {
        var store = NewStore();
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            store.TryRememberAsync("tok-race", _clock.GetUtcNow().AddMinutes(15), default).AsTask()));
        Assert.Equal(1, results.Count(r => r));
    }

    [SkippableFact]
    public async Task An_expired_token_may_be_used_again()
    {
        var store = NewStore();
        Assert.True(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
        _clock.Advance(TimeSpan.FromMinutes(14));
        Assert.False(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
        _clock.Advance(TimeSpan.FromMinutes(1)); // exactly at expiry
        Assert.True(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
        Assert.False(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
    }

    [SkippableFact]
    public async Task A_token_already_past_its_window_is_not_a_replay()
    {
        var store = NewStore();
        Assert.True(await store.TryRememberAsync("old", _clock.GetUtcNow().AddMinutes(-1), default));
        Assert.True(await store.TryRememberAsync("old", _clock.GetUtcNow().AddMinutes(-1), default));
    }

    [SkippableFact]
    public async Task A_forgotten_token_is_accepted_again()
    {
        var store = NewStore();
        Assert.True(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
        await store.ForgetAsync("tok", default);
        await store.ForgetAsync("never-seen", default);
        Assert.True(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
        Assert.False(await store.TryRememberAsync("tok", _clock.GetUtcNow().AddMinutes(15), default));
    }

    [SkippableFact]
    public async Task Tokens_expire_independently()
    {
        var store = NewStore();
        Assert.True(await store.TryRememberAsync("a", _clock.GetUtcNow().AddMinutes(5), default));
        Assert.True(await store.TryRememberAsync("b", _clock.GetUtcNow().AddMinutes(20), default));
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.True(await store.TryRememberAsync("a", _clock.GetUtcNow().AddMinutes(5), default));
        Assert.False(await store.TryRememberAsync("b", _clock.GetUtcNow().AddMinutes(5), default));
    }
}

public sealed class SqliteWebhookTokenStoreContract(SqliteBackend backend) : WebhookTokenStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbWebhookTokenStoreContract(MongoDbBackend backend) : WebhookTokenStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresWebhookTokenStoreContract(PostgresBackend backend) : WebhookTokenStoreContract(backend), IClassFixture<PostgresBackend>;

using AkkaMail.Providers;
using Microsoft.Extensions.Time.Testing;
namespace AkkaMail.Mailgun.Tests;

public class TokenStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Remembers_until_expiry_then_forgets()
    {
        var clock = new FakeTimeProvider(T0);
        var store = new InMemoryWebhookTokenStore(clock);
        Assert.True(await store.TryRememberAsync("a", T0.AddMinutes(5), default));
        Assert.False(await store.TryRememberAsync("a", T0.AddMinutes(5), default));
        Assert.True(await store.TryRememberAsync("b", T0.AddMinutes(5), default));
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await store.TryRememberAsync("a", T0.AddMinutes(10), default));
        Assert.Equal(1, store.Count); // b expired and was purged
    }

    [Fact]
    public async Task Is_bounded_and_evicts_the_soonest_to_expire()
    {
        var clock = new FakeTimeProvider(T0);
        var store = new InMemoryWebhookTokenStore(clock, capacity: 100);
        for (var i = 0; i < 1000; i++)
            Assert.True(await store.TryRememberAsync($"t{i}", T0.AddSeconds(10 + i), default));
        Assert.Equal(100, store.Count);
        Assert.False(await store.TryRememberAsync("t999", T0.AddSeconds(2000), default)); // the newest are kept
        Assert.True(await store.TryRememberAsync("t0", T0.AddSeconds(2000), default));   // the oldest were evicted
    }

    [Fact]
    public async Task Already_expired_tokens_are_not_stored()
    {
        var store = new InMemoryWebhookTokenStore(new FakeTimeProvider(T0));
        Assert.True(await store.TryRememberAsync("x", T0.AddSeconds(-1), default));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task Concurrent_duplicates_are_admitted_exactly_once()
    {
        var store = new InMemoryWebhookTokenStore(new FakeTimeProvider(T0));
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => store.TryRememberAsync("same", T0.AddMinutes(1), default).AsTask())));
        Assert.Single(results, r => r);
    }
}

using AkkaMail.Erasure;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every <see cref="IErasureStore"/> must do. Each test works on a fresh, empty store.</summary>
public abstract class ErasureStoreContract(IStoreBackend backend)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [SkippableFact]
    public async Task Saves_reads_replaces_and_lists_the_pending_oldest_first()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewErasureStore();
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        var first = new ErasureRecord("era_1", "usr_a", "usr_a", "sha256:ab", T0, 3, 1, new[] { "em_2", "em_3" }, 1, null);
        var second = new ErasureRecord("era_2", null, "admin", "sha256:cd", T0.AddMinutes(1), 1, 0, new[] { "em_9" }, 0, null);
        var done = new ErasureRecord("era_0", "usr_b", "usr_b", "sha256:ef", T0.AddMinutes(-1), 0, 0, Array.Empty<string>(), 0, T0);
        await store.SaveAsync(second);
        await store.SaveAsync(first);
        await store.SaveAsync(done);

        var got = await store.GetAsync("era_1");
        Assert.NotNull(got);
        Assert.Equal((first.Id, first.UserId, first.AddressHash, first.RequestedAt, first.Found, first.Erased, first.SuppressionsHashed),
            (got!.Id, got.UserId, got.AddressHash, got.RequestedAt, got.Found, got.Erased, got.SuppressionsHashed));
        Assert.Equal(first.Pending, got.Pending);
        Assert.Equal("pending", got.Status);
        Assert.Null(await store.GetAsync("era_nope"));
        Assert.Equal(new[] { "era_1", "era_2" }, (await store.ListPendingAsync(10)).Select(r => r.Id));
        Assert.Equal(new[] { "era_1" }, (await store.ListPendingAsync(1)).Select(r => r.Id));

        // Progress replaces the record; a completed one leaves the pending list.
        await store.SaveAsync(first with { Erased = 3, Pending = Array.Empty<string>(), CompletedAt = T0.AddMinutes(5) });
        var completed = await store.GetAsync("era_1");
        Assert.Equal(("completed", 3, 0, (DateTimeOffset?)T0.AddMinutes(5)), (completed!.Status, completed.Erased, completed.Pending.Count, completed.CompletedAt));
        Assert.Equal(new[] { "era_2" }, (await store.ListPendingAsync(10)).Select(r => r.Id));
    }
}

public sealed class SqliteErasureStoreContract(SqliteBackend backend) : ErasureStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbErasureStoreContract(MongoDbBackend backend) : ErasureStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresErasureStoreContract(PostgresBackend backend) : ErasureStoreContract(backend), IClassFixture<PostgresBackend>;

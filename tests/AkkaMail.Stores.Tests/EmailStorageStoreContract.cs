using AkkaMail.ReadModel;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every read store must answer of its storage figures (<see cref="IEmailStorageStore"/>). Each test works on a
/// fresh, empty store.</summary>
public abstract class EmailStorageStoreContract(IStoreBackend backend)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Whether the backend reports its own size on disk (SQLite's files are measured by the host instead).</summary>
    protected abstract bool MeasuresItsOwnDisk { get; }

    private async Task<(IEmailReadStore Read, IEmailStorageStore Storage)> NewStoreAsync()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewEmailReadStore();
        await store.InitializeAsync();
        return (store, (IEmailStorageStore)store);
    }

    private static EmailView View(string id, string user, long bodyBytes, long version = 1, int timelineEntries = 1) =>
        EmailReadStoreContract.View(id, user, version, T0, status: "sent", phase: "Sent") with
        {
            BodyBytes = bodyBytes,
            SettledAt = T0,
            Timeline = Enumerable.Range(0, timelineEntries)
                .Select(i => new TimelineView(T0.AddSeconds(i), i == 0 ? "accepted" : "opened", "bob@example.com", $"entry {i}")).ToArray(),
        };

    private static async Task<Dictionary<string, StorageFigures>> FiguresAsync(IEmailStorageStore store) =>
        (await store.MeasureByUserAsync()).ToDictionary(u => u.UserId, u => u.Figures);

    [SkippableFact]
    public async Task An_empty_store_has_no_users()
    {
        var (_, storage) = await NewStoreAsync();
        Assert.Empty(await storage.MeasureByUserAsync());
    }

    [SkippableFact]
    public async Task Figures_are_per_user_sums_of_body_sizes_and_view_sizes()
    {
        var (read, storage) = await NewStoreAsync();
        await read.UpsertAsync(new[] { View("em_a1", "usr_a", 1_000), View("em_a2", "usr_a", 500), View("em_b1", "usr_b", 200) });

        var figures = await FiguresAsync(storage);
        Assert.Equal(new[] { "usr_a", "usr_b" }, figures.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((2L, 1_500L, 0L), (figures["usr_a"].Emails, figures["usr_a"].BodyBytesHeld, figures["usr_a"].BodyBytesRemoved));
        Assert.Equal((1L, 200L, 0L), (figures["usr_b"].Emails, figures["usr_b"].BodyBytesHeld, figures["usr_b"].BodyBytesRemoved));
        // Each view is a few hundred bytes, whatever its store's encoding.
        Assert.InRange(figures["usr_b"].EnvelopeBytes, 200, 5_000);
        Assert.InRange(figures["usr_a"].EnvelopeBytes, 2 * 200, 2 * 5_000);
    }

    [SkippableFact]
    public async Task A_view_that_grows_grows_its_envelope_bytes_and_a_stale_one_changes_nothing()
    {
        var (read, storage) = await NewStoreAsync();
        await read.UpsertAsync(new[] { View("em_1", "usr_a", 100, version: 2) });
        var before = (await FiguresAsync(storage))["usr_a"].EnvelopeBytes;

        await read.UpsertAsync(new[] { View("em_1", "usr_a", 100, version: 3, timelineEntries: 20) });
        var grown = (await FiguresAsync(storage))["usr_a"].EnvelopeBytes;
        Assert.True(grown > before + 19 * 40, $"{before} → {grown}");

        await read.UpsertAsync(new[] { View("em_1", "usr_a", 100, version: 1) }); // older: ignored, figures too
        Assert.Equal(grown, (await FiguresAsync(storage))["usr_a"].EnvelopeBytes);
    }

    [SkippableFact]
    public async Task Marked_bodies_count_as_removed_and_a_later_view_never_clears_the_mark()
    {
        var (read, storage) = await NewStoreAsync();
        await read.UpsertAsync(new[] { View("em_1", "usr_a", 1_000), View("em_2", "usr_a", 300) });

        await storage.MarkBodiesRemovedAsync(new[] { "em_1", "em_unknown" }, T0.AddDays(8));
        await storage.MarkBodiesRemovedAsync(new[] { "em_1" }, T0.AddDays(9)); // again: nothing changes
        var figures = (await FiguresAsync(storage))["usr_a"];
        Assert.Equal((2L, 300L, 1_000L), (figures.Emails, figures.BodyBytesHeld, figures.BodyBytesRemoved));

        // A later view folded from a state that knew nothing of the removal (or from a snapshot written before body sizes
        // were recorded): the mark and the size stay.
        await read.UpsertAsync(new[] { View("em_1", "usr_a", 0, version: 2) });
        figures = (await FiguresAsync(storage))["usr_a"];
        Assert.Equal((300L, 1_000L), (figures.BodyBytesHeld, figures.BodyBytesRemoved));

        // A view that carries the removal itself counts as removed without a mark.
        await read.UpsertAsync(new[] { View("em_3", "usr_a", 50) with { BodiesRemovedAt = T0.AddDays(8) } });
        figures = (await FiguresAsync(storage))["usr_a"];
        Assert.Equal((3L, 300L, 1_050L), (figures.Emails, figures.BodyBytesHeld, figures.BodyBytesRemoved));
    }

    [SkippableFact]
    public async Task Removed_emails_leave_the_figures()
    {
        var (read, storage) = await NewStoreAsync();
        await read.UpsertAsync(new[] { View("em_1", "usr_a", 1_000), View("em_2", "usr_a", 300), View("em_3", "usr_b", 7) });
        await read.DeleteAsync(new[] { "em_1", "em_3" });
        var figures = await FiguresAsync(storage);
        Assert.Equal(new[] { "usr_a" }, figures.Keys);
        Assert.Equal((1L, 300L), (figures["usr_a"].Emails, figures["usr_a"].BodyBytesHeld));
    }

    [SkippableFact]
    public async Task The_projection_path_stores_the_figures_with_the_views()
    {
        var (read, storage) = await NewStoreAsync();
        await ((IEmailProjectionStore)read).StoreAsync("test-projection", new[] { View("em_1", "usr_a", 4_321) },
            Array.Empty<ProjectedSuppression>(), 17);
        Assert.Equal(4_321L, (await FiguresAsync(storage))["usr_a"].BodyBytesHeld);
    }

    [SkippableFact]
    public async Task Disk_parts_are_named_and_the_read_model_has_a_size_where_the_backend_measures_it()
    {
        var (read, storage) = await NewStoreAsync();
        await read.UpsertAsync(new[] { View("em_1", "usr_a", 10) });
        var parts = await storage.MeasureDiskAsync();
        Assert.All(parts, p => Assert.Contains(p.Part, new[] { "journal", "read_model" }));
        Assert.All(parts, p => Assert.True(p.Bytes >= 0));
        if (MeasuresItsOwnDisk) Assert.True(parts.Where(p => p.Part == "read_model").Sum(p => p.Bytes) > 0);
        else Assert.Empty(parts);
    }
}

public sealed class SqliteEmailStorageStoreContract(SqliteBackend backend) : EmailStorageStoreContract(backend), IClassFixture<SqliteBackend>
{
    protected override bool MeasuresItsOwnDisk => false;
}

public sealed class MongoDbEmailStorageStoreContract(MongoDbBackend backend) : EmailStorageStoreContract(backend), IClassFixture<MongoDbBackend>
{
    protected override bool MeasuresItsOwnDisk => true;
}

public sealed class PostgresEmailStorageStoreContract(PostgresBackend backend) : EmailStorageStoreContract(backend), IClassFixture<PostgresBackend>
{
    protected override bool MeasuresItsOwnDisk => true;
}

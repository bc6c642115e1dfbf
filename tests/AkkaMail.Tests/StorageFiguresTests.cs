using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Domain.EmailCommands;

namespace AkkaMail.Tests;

/// <summary>What the storage figures are made of: an email's body size (pure), kept by its state after the bodies leave it,
/// and the cache that keeps the per-user aggregate from running on every read.</summary>
public sealed class StorageFiguresTests
{
    private const string Id = "e1";

    private static EmailContent WithBodies() => T.OneRecipient with
    {
        Text = "héllo", // é: 2 bytes in UTF-8
        Html = "<p>hi</p>",
        Attachments = new[] { new EmailAttachment("a.txt", "text/plain", "QUJD") },
    };

    [Fact]
    public void Body_bytes_are_the_utf8_sizes_of_text_html_attachments_and_recipient_variables()
    {
        Assert.Equal(6 + 9 + 5 + 10 + 4, WithBodies().BodyBytes());
        var batch = WithBodies() with
        {
            RecipientVariables = new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["b@example.com"] = new Dictionary<string, string> { ["name"] = "Bé" },
            },
        };
        Assert.Equal(6 + 9 + 5 + 10 + 4 + 13 + 4 + 3, batch.BodyBytes());
        Assert.Equal(0, (T.OneRecipient with { Text = null, Html = null }).BodyBytes());
    }

    [Fact]
    public void The_state_keeps_the_body_size_after_it_dropped_the_bodies_on_settling()
    {
        var accepted = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", WithBodies()), T.Ctx(T.T0));
        Assert.Equal(WithBodies().BodyBytes(), accepted.BodyBytes);
        var sent = accepted.Run(new BeginSendAttempt(Id, 1), T.Ctx(T.T0.AddSeconds(1)))
            .Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pm-1")), T.Ctx(T.T0.AddSeconds(2)));
        Assert.Null(sent.Content!.Text);
        Assert.Equal(WithBodies().BodyBytes(), sent.BodyBytes);
        Assert.Equal(WithBodies().BodyBytes(), EmailView.Of(sent).BodyBytes);
    }

    private sealed class CountingStore : IEmailStorageStore
    {
        public int Measured;
        public TaskCompletionSource? Gate;

        public async Task<IReadOnlyList<UserStorage>> MeasureByUserAsync(CancellationToken ct = default)
        {
            Interlocked.Increment(ref Measured);
            if (Gate is { } gate) await gate.Task;
            return new[] { new UserStorage("usr_small", new StorageFigures(1, 10, 0, 5)), new UserStorage("usr_big", new StorageFigures(2, 100, 50, 20)) };
        }

        public Task MarkBodiesRemovedAsync(IReadOnlyCollection<string> ids, DateTimeOffset at, CancellationToken ct = default) => Task.CompletedTask;

        public Task<IReadOnlyList<DiskPart>> MeasureDiskAsync(CancellationToken ct = default) =>
            Task.FromResult<IReadOnlyList<DiskPart>>(new[] { new DiskPart("journal", 4096) });
    }

    [Fact]
    public async Task The_cache_orders_users_by_bytes_held_sums_totals_and_adds_the_hosts_parts()
    {
        var cache = new StorageFiguresCache(new CountingStore(), () => new[] { new DiskPart("outbox", 7) }, TimeSpan.FromMinutes(1));
        var report = await cache.GetAsync();
        Assert.Equal(new[] { "usr_big", "usr_small" }, report.Users.Select(u => u.UserId));
        Assert.Equal(new StorageFigures(3, 110, 50, 25), report.Totals);
        Assert.Equal(135, report.Totals.BytesHeld);
        Assert.Equal(new[] { new DiskPart("journal", 4096), new DiskPart("outbox", 7) }, report.Disk);
    }

    [Fact]
    public async Task The_cache_measures_once_per_max_age_and_readers_during_a_measurement_share_it()
    {
        var store = new CountingStore { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var cache = new StorageFiguresCache(store, Array.Empty<DiskPart>, TimeSpan.FromMilliseconds(300));
        Assert.Null(cache.Latest); // nothing yet; a measurement starts in the background
        var waiting = new[] { cache.GetAsync(), cache.GetAsync() };
        store.Gate.SetResult();
        var reports = await Task.WhenAll(waiting);
        Assert.Same(reports[0], reports[1]);
        Assert.Equal(1, store.Measured);
        Assert.Same(reports[0], await cache.GetAsync()); // young enough
        Assert.Same(reports[0], cache.Latest);
        Assert.Equal(1, store.Measured);

        await Task.Delay(400);
        var later = await cache.GetAsync();
        Assert.NotSame(reports[0], later);
        Assert.Equal(2, store.Measured);
    }
}

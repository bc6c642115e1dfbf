using AkkaMail.OutboundWebhooks;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every backend's outbound webhook store must do: endpoints per user, deliveries stored once per stable
/// id with the projection's offset, handed out one email at a time in journal order, logged, requeued.</summary>
public abstract class WebhookStoreContract(IStoreBackend backend)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private (IWebhookEndpointStore Endpoints, IWebhookDeliveryStore Deliveries) NewStores()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var stores = backend.NewWebhookStores();
        Skip.If(stores is null, "this backend has no outbound webhook store");
        return stores!.Value;
    }

    private static WebhookEndpoint Endpoint(string id, string user, bool enabled = true) => new(
        id, user, $"https://hooks.example.com/{id}", ["delivered"], ["receipt"], enabled, null,
        [new WebhookSecret("v1:protected", null), new WebhookSecret("v1:old", T0.AddHours(1))], 0, T0, T0, "desc");

    private static WebhookDelivery Delivery(string endpoint, string email, long ordering, long seq, DateTimeOffset? created = null) =>
        new(WebhookDelivery.IdFor(endpoint, email, seq), endpoint, email, ordering, $"evt_{email}_{seq}", "delivered", $"{{\"n\":{ordering}}}",
            created ?? T0);

    [SkippableFact]
    public async Task Endpoints_are_created_read_listed_per_user_updated_and_deleted()
    {
        var (store, _) = NewStores();
        await store.InitializeAsync();
        var a = Endpoint("whe_a", "usr_1");
        await store.CreateAsync(a);
        await store.CreateAsync(Endpoint("whe_b", "usr_2") with { CreatedAt = T0.AddSeconds(1) });
        var read = await store.GetAsync("whe_a");
        Assert.NotNull(read);
        Assert.Equal(a.Url, read!.Url);
        Assert.Equal(a.EventTypes, read.EventTypes);
        Assert.Equal(a.Tags, read.Tags);
        Assert.Equal(a.Secrets, read.Secrets);
        Assert.Equal("desc", read.Description);
        Assert.Equal(["whe_a"], (await store.ListAsync("usr_1")).Select(e => e.Id));
        Assert.Equal(["whe_a", "whe_b"], (await store.ListAsync(null)).Select(e => e.Id));
        Assert.True(await store.UpdateAsync(a with { Url = "https://other.example.com/", Enabled = false, DisabledReason = "paused" }));
        Assert.False((await store.GetAsync("whe_a"))!.Enabled);
        Assert.Equal("paused", (await store.GetAsync("whe_a"))!.DisabledReason);
        Assert.False(await store.UpdateAsync(Endpoint("whe_none", "usr_1")));
        Assert.True(await store.DeleteAsync("whe_a"));
        Assert.False(await store.DeleteAsync("whe_a"));
        Assert.Null(await store.GetAsync("whe_a"));
    }

    [SkippableFact]
    public async Task A_run_of_given_up_deliveries_disables_the_endpoint_once_and_a_success_ends_the_run()
    {
        var (store, _) = NewStores();
        await store.CreateAsync(Endpoint("whe_a", "usr_1"));
        Assert.False(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0));
        Assert.False(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0));
        Assert.False(await store.RecordResultAsync("whe_a", true, 3, "", T0));
        Assert.Equal(0, (await store.GetAsync("whe_a"))!.ConsecutiveFailures);
        Assert.False(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0));
        Assert.False(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0));
        Assert.True(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0));
        Assert.False(await store.RecordResultAsync("whe_a", false, 3, "three in a row", T0)); // already disabled
        var disabled = await store.GetAsync("whe_a");
        Assert.False(disabled!.Enabled);
        Assert.Equal("three in a row", disabled.DisabledReason);
    }

    [SkippableFact]
    public async Task Deliveries_are_stored_once_with_the_offset_and_a_replayed_batch_keeps_their_progress()
    {
        var (_, store) = NewStores();
        await store.InitializeAsync();
        Assert.Equal(0, await store.LoadOffsetAsync("outbound-webhooks"));
        var d = Delivery("whe_a", "e1", 10, 1);
        await store.StoreAsync("outbound-webhooks", [d], 10);
        Assert.Equal(10, await store.LoadOffsetAsync("outbound-webhooks"));
        await store.SaveAttemptAsync(d with { Status = WebhookDeliveryStatus.Succeeded, Attempts = 1, LastStatusCode = 200, LastResponse = "ok",
            FirstAttemptAt = T0, LastAttemptAt = T0 });
        await store.StoreAsync("outbound-webhooks", [d], 10); // the same batch again, after a crash before its offset
        var stored = await store.GetAsync("whe_a", d.Id);
        Assert.Equal(WebhookDeliveryStatus.Succeeded, stored!.Status);
        Assert.Equal(1, stored.Attempts);
        Assert.Equal(200, stored.LastStatusCode);
        Assert.Equal("ok", stored.LastResponse);
        Assert.Equal(d.Payload, stored.Payload);
        Assert.Null(await store.GetAsync("whe_other", d.Id));
        await store.StoreAsync("outbound-webhooks", [], 12);
        Assert.Equal(12, await store.LoadOffsetAsync("outbound-webhooks"));
    }

    [SkippableFact]
    public async Task Only_the_first_pending_delivery_of_each_email_is_due_in_journal_order()
    {
        var (_, store) = NewStores();
        await store.StoreAsync("p", [Delivery("whe_a", "e1", 1, 1), Delivery("whe_a", "e2", 2, 1), Delivery("whe_a", "e1", 3, 2),
            Delivery("whe_a", "e3", 4, 1) with { NextAttemptAt = T0.AddMinutes(5) }, Delivery("whe_b", "e1", 5, 1)], 5);
        var due = await store.DueAsync("whe_a", T0, 10);
        Assert.Equal(["whe_a.e1.1", "whe_a.e2.1"], due.Select(d => d.Id));
        Assert.Single(await store.DueAsync("whe_a", T0, 1));
        // The head of e1 done: the next change of e1 goes; e3 comes when due.
        await store.SaveAttemptAsync(due[0] with { Status = WebhookDeliveryStatus.Succeeded, Attempts = 1 });
        Assert.Equal(["whe_a.e2.1", "whe_a.e1.2"], (await store.DueAsync("whe_a", T0, 10)).Select(d => d.Id));
        Assert.Equal(["whe_a.e2.1", "whe_a.e1.2", "whe_a.e3.1"], (await store.DueAsync("whe_a", T0.AddMinutes(5), 10)).Select(d => d.Id));
        // A head waiting for its retry holds back its email's later changes.
        await store.SaveAttemptAsync((await store.GetAsync("whe_a", "whe_a.e2.1"))! with { Attempts = 1, NextAttemptAt = T0.AddHours(1) });
        await store.StoreAsync("p", [Delivery("whe_a", "e2", 6, 2)], 6);
        Assert.Equal(["whe_a.e1.2"], (await store.DueAsync("whe_a", T0, 10)).Select(d => d.Id));
        // A failed (given up) head lets the next one go.
        await store.SaveAttemptAsync((await store.GetAsync("whe_a", "whe_a.e2.1"))! with { Status = WebhookDeliveryStatus.Failed });
        Assert.Equal(["whe_a.e1.2", "whe_a.e2.2"], (await store.DueAsync("whe_a", T0, 10)).Select(d => d.Id));
    }

    [SkippableFact]
    public async Task The_log_pages_newest_first_and_requeue_makes_deliveries_due_again()
    {
        var (_, store) = NewStores();
        var all = Enumerable.Range(1, 5).Select(i => Delivery("whe_a", $"e{i}", i, 1, T0.AddSeconds(i))).ToList();
        await store.StoreAsync("p", all, 5);
        await store.AddAsync(Delivery("whe_b", "x", 6, 1));
        var first = await store.ListAsync("whe_a", 2, null);
        Assert.Equal(["whe_a.e5.1", "whe_a.e4.1"], first.Select(d => d.Id));
        var second = await store.ListAsync("whe_a", 2, first[^1].Id);
        Assert.Equal(["whe_a.e3.1", "whe_a.e2.1"], second.Select(d => d.Id));
        Assert.Equal(["whe_a.e1.1"], (await store.ListAsync("whe_a", 2, second[^1].Id)).Select(d => d.Id));

        foreach (var d in all)
            await store.SaveAttemptAsync(d with { Status = WebhookDeliveryStatus.Failed, Attempts = 3, FirstAttemptAt = T0, LastError = "gave up" });
        Assert.Empty(await store.DueAsync("whe_a", T0.AddHours(1), 10));
        var now = T0.AddHours(2);
        Assert.Equal(1, await store.RequeueAsync("whe_a", "whe_a.e1.1", null, null, now));
        Assert.Equal(0, await store.RequeueAsync("whe_b", "whe_a.e1.1", null, null, now)); // another endpoint's id
        Assert.Equal(2, await store.RequeueAsync("whe_a", null, T0.AddSeconds(2), T0.AddSeconds(4), now));
        var due = await store.DueAsync("whe_a", now, 10);
        Assert.Equal(["whe_a.e1.1", "whe_a.e2.1", "whe_a.e3.1"], due.Select(d => d.Id));
        Assert.All(due, d => Assert.Equal((0, (DateTimeOffset?)null, now), (d.Attempts, d.FirstAttemptAt, d.NextAttemptAt)));
    }

    [SkippableFact]
    public async Task Pruning_deletes_old_deliveries_that_are_done_and_keeps_pending_and_recent_ones()
    {
        var (_, store) = NewStores();
        var old = Delivery("whe_a", "e1", 1, 1, T0);
        var oldPending = Delivery("whe_a", "e2", 2, 1, T0);
        var recent = Delivery("whe_a", "e3", 3, 1, T0.AddDays(10));
        await store.StoreAsync("p", [old, oldPending, recent], 3);
        await store.SaveAttemptAsync(old with { Status = WebhookDeliveryStatus.Succeeded, Attempts = 1 });
        await store.SaveAttemptAsync(recent with { Status = WebhookDeliveryStatus.Failed, Attempts = 1 });
        Assert.Equal(1, await store.PruneAsync(T0.AddDays(5)));
        Assert.Equal(["whe_a.e3.1", "whe_a.e2.1"], (await store.ListAsync("whe_a", 10, null)).Select(d => d.Id));
    }

    [SkippableFact]
    public async Task Erasure_deletes_every_delivery_about_the_erased_emails()
    {
        var (_, store) = NewStores();
        await store.StoreAsync("p", [Delivery("whe_a", "e1", 1, 1), Delivery("whe_b", "e1", 2, 1), Delivery("whe_a", "e2", 3, 1)], 3);
        await store.SaveAttemptAsync(Delivery("whe_a", "e1", 1, 1) with { Status = WebhookDeliveryStatus.Succeeded, Attempts = 1 });
        Assert.Equal(0, await store.DeleteForEmailsAsync([]));
        // Pending or done, on every endpoint.
        Assert.Equal(2, await store.DeleteForEmailsAsync(["e1", "em_unknown"]));
        Assert.Equal(["whe_a.e2.1"], (await store.ListAsync("whe_a", 10, null)).Select(d => d.Id));
        Assert.Empty(await store.ListAsync("whe_b", 10, null));
    }

    [SkippableFact]
    public async Task Deleting_an_endpoint_deletes_its_deliveries()
    {
        var (endpoints, deliveries) = NewStores();
        await endpoints.CreateAsync(Endpoint("whe_a", "usr_1"));
        await deliveries.StoreAsync("p", [Delivery("whe_a", "e1", 1, 1)], 1);
        Assert.True(await endpoints.DeleteAsync("whe_a"));
        Assert.Empty(await deliveries.ListAsync("whe_a", 10, null));
    }
}

public sealed class SqliteWebhookStoreContract(SqliteBackend backend) : WebhookStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbWebhookStoreContract(MongoDbBackend backend) : WebhookStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresWebhookStoreContract(PostgresBackend backend) : WebhookStoreContract(backend), IClassFixture<PostgresBackend>;

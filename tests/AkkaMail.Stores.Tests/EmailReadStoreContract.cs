using System.Text.Json;
using AkkaMail.ReadModel;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every <see cref="IEmailReadStore"/> must do. Each test works on a fresh, empty store.</summary>
public abstract class EmailReadStoreContract(IStoreBackend backend)
{
    protected static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private async Task<IEmailReadStore> NewStoreAsync()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewEmailReadStore();
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        return store;
    }

    public static EmailView View(string id, string user = "usr_a", long version = 1, DateTimeOffset? created = null,
        string status = "queued", string phase = "Queued", string[]? to = null, string[]? tags = null, string? providerMessageId = null)
    {
        var at = created ?? T0;
        to ??= new[] { "bob@example.com" };
        return new EmailView(id, user, status, at, at.AddSeconds(version), "Alice <alice@example.com>", to,
            new[] { "carol@example.com" }, Array.Empty<string>(), $"Subject of {id}", tags ?? new[] { "welcome" },
            providerMessageId, (int)version, null, null, null,
            to.Select(a => new RecipientView(a, status, null, null, null, 0, 0, false, false, Array.Empty<string>())).ToArray(),
            new[] { new TimelineView(at, "accepted", null, null) }, version) { Phase = phase };
    }

    private static string Json(EmailView? v) => JsonSerializer.Serialize(v);

    [SkippableFact]
    public async Task Upsert_then_get_returns_every_field()
    {
        var store = await NewStoreAsync();
        var view = View("em_full", version: 7, status: "sent", phase: "Sent", providerMessageId: "<pm-1@mailgun>") with
        {
            Bcc = new[] { "dave@example.com" },
            SettledAt = T0.AddSeconds(2),
            SendAt = T0.AddHours(1),
            NextAttemptAt = T0.AddMinutes(5),
            FailureReason = "boom",
            Recipients = new[]
            {
                new RecipientView("bob@example.com", "delivered", T0.AddSeconds(3), "ok", 250, 2, 1, true, false, new[] { "https://x.test/a" }),
                new RecipientView("eve@example.com", "failed", null, null, null, 0, 0, false, true, Array.Empty<string>()),
            },
            Timeline = new[] { new TimelineView(T0, "accepted", null, null), new TimelineView(T0.AddSeconds(2), "sent", null, "pm-1", "smtp"),
                new TimelineView(T0.AddSeconds(3), "delivered", "bob@example.com", "250 ok", "mailgun") },
        };
        await store.UpsertAsync(new[] { view });
        var got = await store.GetAsync("em_full");
        Assert.NotNull(got);
        Assert.Equal(Json(view), Json(got));
        Assert.Equal("Sent", got!.Phase);
    }

    [SkippableFact]
    public async Task Get_of_an_unknown_id_is_null()
    {
        var store = await NewStoreAsync();
        Assert.Null(await store.GetAsync("em_nope"));
        await store.UpsertAsync(Array.Empty<EmailView>()); // an empty batch is a no-op
    }

    [SkippableFact]
    public async Task Upsert_is_version_guarded()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[] { View("em_v", version: 2, status: "sent") });

        await store.UpsertAsync(new[] { View("em_v", version: 1, status: "queued") }); // older: ignored
        Assert.Equal(("sent", 2L), await StatusAndVersion(store, "em_v"));

        await store.UpsertAsync(new[] { View("em_v", version: 2, status: "failed") }); // equal: ignored
        Assert.Equal(("sent", 2L), await StatusAndVersion(store, "em_v"));

        await store.UpsertAsync(new[] { View("em_v", version: 3, status: "delivered") }); // newer: applied
        Assert.Equal(("delivered", 3L), await StatusAndVersion(store, "em_v"));
    }

    [SkippableFact]
    public async Task A_batch_applies_the_newest_version_and_a_stale_row_does_not_block_the_others()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[] { View("em_b1", version: 5, status: "delivered") });
        await store.UpsertAsync(new[]
        {
            View("em_b1", version: 4, status: "sent"),       // stale
            View("em_b2", version: 3, status: "sent"),
            View("em_b2", version: 2, status: "queued"),     // stale within the batch
            View("em_b3", version: 1, status: "queued"),
        });
        Assert.Equal(("delivered", 5L), await StatusAndVersion(store, "em_b1"));
        Assert.Equal(("sent", 3L), await StatusAndVersion(store, "em_b2"));
        Assert.Equal(("queued", 1L), await StatusAndVersion(store, "em_b3"));
    }

    [SkippableFact]
    public async Task Concurrent_upserts_of_one_email_end_at_the_highest_version()
    {
        var store = await NewStoreAsync();
        await Task.WhenAll(Enumerable.Range(1, 20).Select(v => store.UpsertAsync(new[] { View("em_race", version: v, status: $"s{v}") })));
        Assert.Equal(("s20", 20L), await StatusAndVersion(store, "em_race"));
    }

    private static async Task<(string, long)> StatusAndVersion(IEmailReadStore store, string id)
    {
        var v = await store.GetAsync(id);
        Assert.NotNull(v);
        return (v!.Status, v.Version);
    }

    [SkippableFact]
    public async Task Finds_an_email_by_provider_message_id()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[] { View("em_p1"), View("em_p2", providerMessageId: "<other@mg>") });
        Assert.Null(await store.FindIdByProviderMessageIdAsync("<pm@mg>"));
        await store.UpsertAsync(new[] { View("em_p1", version: 2, status: "sent", phase: "Sent", providerMessageId: "<pm@mg>") });
        Assert.Equal("em_p1", await store.FindIdByProviderMessageIdAsync("<pm@mg>"));
        Assert.Equal("em_p2", await store.FindIdByProviderMessageIdAsync("<other@mg>"));
    }

    private async Task<IEmailReadStore> SeededAsync()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[]
        {
            View("em_1", created: T0.AddMinutes(1), status: "delivered", to: new[] { "bob@example.com" }, tags: new[] { "welcome", "a" }),
            View("em_2", created: T0.AddMinutes(2), status: "sent", to: new[] { "carol@example.com", "bob@example.com" }, tags: new[] { "b" }),
            View("em_3", created: T0.AddMinutes(3), status: "delivered", to: new[] { "dave@example.com" }, tags: new[] { "welcome" }),
            View("em_4", created: T0.AddMinutes(4), status: "failed", to: new[] { "bobby@example.com" }, tags: Array.Empty<string>()),
            View("em_x", user: "usr_b", created: T0.AddMinutes(5), status: "delivered", to: new[] { "bob@example.com" }),
        });
        return store;
    }

    private static async Task<string[]> Ids(IEmailReadStore store, EmailQuery q) =>
        (await store.ListAsync(q)).Items.Select(v => v.Id).ToArray();

    [SkippableFact]
    public async Task Lists_a_users_emails_newest_first()
    {
        var store = await SeededAsync();
        Assert.Equal(new[] { "em_4", "em_3", "em_2", "em_1" }, await Ids(store, new EmailQuery("usr_a", 10)));
        Assert.Equal(new[] { "em_x" }, await Ids(store, new EmailQuery("usr_b", 10)));
        Assert.Empty(await Ids(store, new EmailQuery("usr_nobody", 10)));
        var page = await store.ListAsync(new EmailQuery("usr_a", 10));
        Assert.Null(page.Next);
        Assert.Equal("Subject of em_4", page.Items[0].Subject);
    }

    [SkippableFact]
    public async Task Filters_by_status_recipient_tag_and_created_range()
    {
        var store = await SeededAsync();
        Assert.Equal(new[] { "em_3", "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, Status: "delivered")));
        Assert.Empty(await Ids(store, new EmailQuery("usr_a", 10, Status: "opened")));
        // Recipient: exact address, normalized (case, display name), never a substring (bobby@ is not bob@).
        Assert.Equal(new[] { "em_2", "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, Recipient: "Bob <BOB@Example.com>")));
        Assert.Equal(new[] { "em_4" }, await Ids(store, new EmailQuery("usr_a", 10, Recipient: "bobby@example.com")));
        // Tag: exact tag among several, never a substring.
        Assert.Equal(new[] { "em_3", "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, Tag: "welcome")));
        Assert.Equal(new[] { "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, Tag: "a")));
        Assert.Empty(await Ids(store, new EmailQuery("usr_a", 10, Tag: "welc")));
        // Created range: both bounds exclusive.
        Assert.Equal(new[] { "em_3", "em_2" }, await Ids(store, new EmailQuery("usr_a", 10,
            CreatedAfter: T0.AddMinutes(1), CreatedBefore: T0.AddMinutes(4))));
        Assert.Equal(new[] { "em_4" }, await Ids(store, new EmailQuery("usr_a", 10, CreatedAfter: T0.AddMinutes(3))));
        Assert.Equal(new[] { "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, CreatedBefore: T0.AddMinutes(2))));
        // Combined.
        Assert.Equal(new[] { "em_1" }, await Ids(store, new EmailQuery("usr_a", 10, Status: "delivered", Recipient: "bob@example.com", Tag: "welcome")));
    }

    [SkippableFact]
    public async Task Pages_with_the_cursor_through_ties_without_skipping_or_repeating()
    {
        var store = await NewStoreAsync();
        // 25 emails, in groups of 5 sharing a created time: ties are ordered by id, descending.
        var views = Enumerable.Range(0, 25).Select(i => View($"em_{i:D2}", created: T0.AddSeconds(i / 5), status: i % 2 == 0 ? "sent" : "queued")).ToList();
        await store.UpsertAsync(views);
        var expected = views.OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.Id, StringComparer.Ordinal).Select(v => v.Id).ToList();

        var seen = await PageAll(store, new EmailQuery("usr_a", 7));
        Assert.Equal(expected, seen);

        var sentOnly = await PageAll(store, new EmailQuery("usr_a", 4, Status: "sent"));
        Assert.Equal(views.Where(v => v.Status == "sent").OrderByDescending(v => v.CreatedAt)
            .ThenByDescending(v => v.Id, StringComparer.Ordinal).Select(v => v.Id), sentOnly);
    }

    private static async Task<List<string>> PageAll(IEmailReadStore store, EmailQuery q)
    {
        var ids = new List<string>();
        ListPosition? after = null;
        for (var pages = 0; pages < 100; pages++)
        {
            var page = await store.ListAsync(q with { After = after });
            Assert.True(page.Items.Count <= q.Limit);
            ids.AddRange(page.Items.Select(v => v.Id));
            if (page.Next is null) return ids;
            Assert.Equal(q.Limit, page.Items.Count);
            after = ListPosition.TryDecode(page.Next.Encode()); // the cursor survives its wire form
            Assert.Equal(page.Next, after);
        }
        throw new InvalidOperationException("paging did not end");
    }

    [SkippableFact]
    public async Task Paging_while_emails_are_inserted_and_updated_neither_skips_nor_repeats()
    {
        var store = await NewStoreAsync();
        var views = Enumerable.Range(0, 20).Select(i => View($"em_{i:D2}", created: T0.AddSeconds(i))).ToList();
        await store.UpsertAsync(views);
        var expected = views.OrderByDescending(v => v.CreatedAt).Select(v => v.Id).ToList();

        var ids = new List<string>();
        ListPosition? after = null;
        var n = 0;
        do
        {
            var page = await store.ListAsync(new EmailQuery("usr_a", 6, After: after));
            ids.AddRange(page.Items.Select(v => v.Id));
            after = page.Next;
            // Between pages: newer emails arrive (one with the very newest time already seen), and seen ones change.
            await store.UpsertAsync(new[]
            {
                View($"em_new{n++}", created: T0.AddMinutes(10 + n)),
                View($"em_tie{n}", created: T0.AddSeconds(19)),
                View(page.Items[0].Id, version: 2, created: page.Items[0].CreatedAt, status: "delivered"),
            });
        } while (after is not null);

        Assert.Equal(expected, ids);
    }

    [SkippableFact]
    public async Task Finds_unsettled_emails_in_id_order_with_paging()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[]
        {
            View("em_a", phase: "Queued"),
            View("em_b", phase: "Sent", status: "sent"),
            View("em_c", phase: "Scheduled"),
            View("em_d", phase: "Sending"),
            View("em_e", phase: "RetryWaiting"),
            View("em_f", phase: "SendFailed", status: "failed"),
            View("em_g", phase: "Cancelled", status: "cancelled"),
            View("em_h", user: "usr_b", phase: "Queued"),
        });
        Assert.Equal(new[] { "em_a", "em_c", "em_d", "em_e", "em_h" }, await store.FindUnsettledAsync(100, null));
        Assert.Equal(new[] { "em_a", "em_c" }, await store.FindUnsettledAsync(2, null));
        Assert.Equal(new[] { "em_d", "em_e" }, await store.FindUnsettledAsync(2, "em_c"));
        Assert.Equal(new[] { "em_h" }, await store.FindUnsettledAsync(2, "em_e"));
        Assert.Empty(await store.FindUnsettledAsync(2, "em_h"));

        await store.UpsertAsync(new[] { View("em_a", version: 2, phase: "Sent", status: "sent") });
        Assert.Equal(new[] { "em_c", "em_d", "em_e", "em_h" }, await store.FindUnsettledAsync(100, null));
    }

    [SkippableFact]
    public async Task Settled_emails_are_found_in_order_of_settling_up_to_a_time_and_deleted()
    {
        var store = await NewStoreAsync();
        EmailView Settled(string id, int minute, string user = "usr_a") =>
            View(id, user: user, phase: "Sent", status: "sent") with { SettledAt = T0.AddMinutes(minute) };
        await store.UpsertAsync(new[]
        {
            Settled("em_c", 1), Settled("em_a", 2), Settled("em_b", 2, user: "usr_b"), Settled("em_d", 5),
            View("em_q", phase: "Queued"), View("em_s", phase: "Scheduled", status: "scheduled"),
        });
        var all = await store.FindSettledAsync(SettledPosition.Start, T0.AddMinutes(10), 100);
        Assert.Equal(new[] { "em_c", "em_a", "em_b", "em_d" }, all.Select(p => p.Id));
        Assert.Equal(T0.AddMinutes(2).ToUnixTimeMilliseconds(), all[1].SettledAtMs);
        // Up to a time (inclusive), and paged after a position.
        Assert.Equal(new[] { "em_c", "em_a", "em_b" }, (await store.FindSettledAsync(SettledPosition.Start, T0.AddMinutes(2), 100)).Select(p => p.Id));
        var first = await store.FindSettledAsync(SettledPosition.Start, T0.AddMinutes(10), 2);
        Assert.Equal(new[] { "em_c", "em_a" }, first.Select(p => p.Id));
        Assert.Equal(new[] { "em_b", "em_d" }, (await store.FindSettledAsync(first[^1], T0.AddMinutes(10), 2)).Select(p => p.Id));
        Assert.Equal(new[] { "em_a", "em_b", "em_d" }, (await store.FindSettledAsync(SettledPosition.Of(T0.AddMinutes(2)), T0.AddMinutes(10), 100)).Select(p => p.Id));

        await store.DeleteAsync(new[] { "em_a", "em_d", "em_unknown" });
        Assert.Null(await store.GetAsync("em_a"));
        Assert.Null(await store.GetAsync("em_d"));
        Assert.NotNull(await store.GetAsync("em_b"));
        Assert.Equal(new[] { "em_c", "em_b" }, (await store.FindSettledAsync(SettledPosition.Start, T0.AddMinutes(10), 100)).Select(p => p.Id));
        Assert.Equal(new[] { "em_q", "em_s" }, await store.FindUnsettledAsync(100, null));
        await store.DeleteAsync(Array.Empty<string>());
    }

    [SkippableFact]
    public async Task Finds_the_emails_to_or_from_an_address_of_one_user_or_of_all()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[]
        {
            View("em_to", to: new[] { "erase.me+x@example.org" }),
            View("em_cc", to: new[] { "other@example.org" }) with { Cc = new[] { "Erase Me <ERASE.ME+x@Example.org>" } },
            View("em_from", to: new[] { "other@example.org" }) with { From = "Erase <erase.me+x@example.org>" },
            View("em_bcc", to: new[] { "other@example.org" }) with { Bcc = new[] { "erase.me+x@example.org" } },
            // The same domain, another address; another user's email to the address.
            View("em_near", to: new[] { "erase.me@example.org", "x-erase.me+x@example.org" }),
            View("em_user_b", user: "usr_b", to: new[] { "erase.me+x@example.org" }),
        });

        var mine = await store.FindByAddressAsync("usr_a", "erase.me+x@example.org", null, 100);
        Assert.Equal(new[] { "em_bcc", "em_cc", "em_from", "em_to" }, mine.Ids);
        Assert.Null(mine.Next);
        var all = await store.FindByAddressAsync(null, "Erase.Me+x@example.ORG", null, 100);
        Assert.Equal(new[] { "em_bcc", "em_cc", "em_from", "em_to", "em_user_b" }, all.Ids);
        Assert.Empty((await store.FindByAddressAsync("usr_a", "nobody@example.net", null, 100)).Ids);

        // Paged: a page looks at up to `limit` candidate rows and says where the next starts.
        var found = new List<string>();
        string? after = null;
        var pages = 0;
        do
        {
            var page = await store.FindByAddressAsync(null, "erase.me+x@example.org", after, 2);
            found.AddRange(page.Ids);
            after = page.Next;
            pages++;
        } while (after is not null);
        Assert.Equal(all.Ids, found);
        Assert.True(pages >= 3, $"{pages} pages");
    }

    [SkippableFact]
    public async Task Emails_awaiting_a_providers_reports_are_found_by_provider_in_order_of_sending_up_to_a_time()
    {
        var store = await NewStoreAsync();
        EmailView Awaiting(string id, int minute, string provider = "mailgun", long version = 1) =>
            View(id, version: version, phase: "Sent", status: "sent") with { AwaitingReportFrom = provider, AwaitingReportSince = T0.AddMinutes(minute) };
        await store.UpsertAsync(new[]
        {
            Awaiting("em_c", 1), Awaiting("em_a", 2), Awaiting("em_b", 2), Awaiting("em_d", 5), Awaiting("em_smtp", 1, provider: "smtp"),
            View("em_done", phase: "Sent", status: "delivered"), View("em_q", phase: "Queued"),
        });
        var all = await store.FindAwaitingReportAsync("mailgun", SentPosition.Start, T0.AddMinutes(10), 100);
        Assert.Equal(new[] { "em_c", "em_a", "em_b", "em_d" }, all.Select(p => p.Id));
        Assert.Equal(T0.AddMinutes(2), all[1].SentAt);
        Assert.Equal(new[] { "em_smtp" }, (await store.FindAwaitingReportAsync("smtp", SentPosition.Start, T0.AddMinutes(10), 100)).Select(p => p.Id));
        // Up to a time (inclusive), and paged after a position.
        Assert.Equal(new[] { "em_c", "em_a", "em_b" },
            (await store.FindAwaitingReportAsync("mailgun", SentPosition.Start, T0.AddMinutes(2), 100)).Select(p => p.Id));
        var first = await store.FindAwaitingReportAsync("mailgun", SentPosition.Start, T0.AddMinutes(10), 2);
        Assert.Equal(new[] { "em_c", "em_a" }, first.Select(p => p.Id));
        Assert.Equal(new[] { "em_b", "em_d" }, (await store.FindAwaitingReportAsync("mailgun", first[^1], T0.AddMinutes(10), 2)).Select(p => p.Id));

        // A newer version no longer awaiting (every fate known, or marked "no report") leaves the index; it round-trips.
        Assert.Equal("mailgun", (await store.GetAsync("em_a"))!.AwaitingReportFrom);
        Assert.Equal(T0.AddMinutes(2), (await store.GetAsync("em_a"))!.AwaitingReportSince);
        await store.UpsertAsync(new[] { View("em_a", version: 2, phase: "Sent", status: "delivered") });
        Assert.Null((await store.GetAsync("em_a"))!.AwaitingReportFrom);
        Assert.Equal(new[] { "em_c", "em_b", "em_d" },
            (await store.FindAwaitingReportAsync("mailgun", SentPosition.Start, T0.AddMinutes(10), 100)).Select(p => p.Id));
    }

    // Search (EmailSearch): the same tokens and query in every store.

    private static EmailView Searchable(string id, string user = "usr_a", DateTimeOffset? created = null, string status = "sent", long version = 1) =>
        View(id, user, version, created ?? T0, status, "Sent", new[] { "zelda@wonder.test" }, new[] { "receipt" }, "<20260301.abc123@mg.store.test>") with
        {
            From = "Shop <shop@store.test>",
            Subject = "Invoice for order 4242",
            SearchHeaders = new Dictionary<string, string> { ["X-Order-Id"] = "ORD-77812" },
        };

    private static Task<string[]> Search(IEmailReadStore store, string q, string user = "usr_a", string? status = null) =>
        Ids(store, new EmailQuery(user, 50, Status: status) { Search = EmailSearch.Parse(q) });

    [SkippableFact]
    public async Task Search_finds_an_email_by_each_field_and_only_the_callers()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[] { Searchable("em_s1"), View("em_other"), Searchable("em_theirs", user: "usr_b") });
        foreach (var q in new[]
                 {
                     "invoice", "Invo", "order 4242", "zelda@wonder.test", "ZELDA", "shop@store.test", "receipt",
                     "<20260301.abc123@mg.store.test>", "20260301.abc123", "em_s1", "ORD-77812", "77812", "invoice zelda@wonder",
                 })
            Assert.True((await Search(store, q)).SequenceEqual(new[] { "em_s1" }), $"'{q}' should find em_s1 alone");
        // The owner's emails only; every term must match; no body or unrelated text matches.
        Assert.Equal(new[] { "em_theirs" }, await Search(store, "invoice", user: "usr_b"));
        Assert.Empty(await Search(store, "invoice nobody"));
        Assert.Empty(await Search(store, "thanks"));
        Assert.Empty(await Search(store, "ORD-77813"));
        // Fields every view has: the other email is found too (carol is a cc of both).
        Assert.Equal(new[] { "em_other", "em_s1" }, (await Search(store, "carol@example.com")).Order().ToArray());
    }

    [SkippableFact]
    public async Task Search_follows_the_view_it_indexes_and_forgets_a_deleted_email()
    {
        var store = await NewStoreAsync();
        await store.UpsertAsync(new[] { View("em_c", providerMessageId: null) });
        Assert.Empty(await Search(store, "pm-later@mg"));
        await store.UpsertAsync(new[] { View("em_c", version: 2, status: "sent", phase: "Sent", providerMessageId: "<pm-later@mg>") });
        Assert.Equal(new[] { "em_c" }, await Search(store, "pm-later@mg"));
        await store.UpsertAsync(new[] { View("em_c", version: 1, providerMessageId: "<stale@mg>") }); // stale: not indexed
        Assert.Empty(await Search(store, "stale"));
        await store.DeleteAsync(new[] { "em_c" });
        Assert.Empty(await Search(store, "pm-later@mg"));
        Assert.Empty(await Search(store, "em_c"));
    }

    [SkippableFact]
    public async Task Search_combines_with_filters_and_pages_without_gaps_while_emails_arrive()
    {
        var store = await NewStoreAsync();
        // 30 matches (ties on the created time included) among 10 that do not match, half of them sent.
        await store.UpsertAsync(Enumerable.Range(0, 30).Select(i => Searchable($"em_{i:D2}", created: T0.AddSeconds(i / 3), status: i % 2 == 0 ? "sent" : "queued"))
            .Concat(Enumerable.Range(0, 10).Select(i => View($"em_no{i}", created: T0.AddSeconds(i), status: "sent"))).ToList());
        var expected = Enumerable.Range(0, 30).Where(i => i % 2 == 0).Select(i => $"em_{i:D2}").ToHashSet();
        var seen = new List<string>();
        ListPosition? after = null;
        var n = 0;
        do
        {
            var page = await store.ListAsync(new EmailQuery("usr_a", 4, Status: "sent", After: after) { Search = EmailSearch.Parse("order 4242") });
            seen.AddRange(page.Items.Select(v => v.Id));
            Assert.All(page.Items, v => Assert.Equal("sent", v.Status));
            after = page.Next;
            // Newer matching emails arrive between pages, and ones tied with the cursor's time: neither skips nor repeats.
            await store.UpsertAsync(new[] { Searchable($"em_new{n}", created: T0.AddMinutes(5 + n)), Searchable($"em_tie{n++}", created: T0.AddSeconds(5)) });
        } while (after is not null);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Subset(seen.ToHashSet(), expected);
    }
}

public sealed class SqliteEmailReadStoreContract(SqliteBackend backend)
    : EmailReadStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbEmailReadStoreContract(MongoDbBackend backend)
    : EmailReadStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresEmailReadStoreContract(PostgresBackend backend) : EmailReadStoreContract(backend), IClassFixture<PostgresBackend>;

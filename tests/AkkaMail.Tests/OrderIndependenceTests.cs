using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using K = AkkaMail.Domain.ProviderEventKind;

namespace AkkaMail.Tests;

/// <summary>
/// Provider events arrive in any order, some twice. Every order must end in the same recipient state and the
/// same aggregate status (the timeline keeps arrival order on purpose, so it is not compared).
/// </summary>
public class OrderIndependenceTests
{
    private const string Id = "e1";
    private const string Rcpt = "rcpt@example.com";

    private static EmailState SentTo(params string[] to)
    {
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content(to)), T.Ctx(T.T0));
        s = s.Run(new BeginSendAttempt(Id, 1), T.Ctx(T.T0));
        return s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent("pmid-1")), T.Ctx(T.T0));
    }

    public static IEnumerable<IReadOnlyList<T>> Permutations<T>(IReadOnlyList<T> items)
    {
        if (items.Count <= 1)
        {
            yield return items;
            yield break;
        }
        for (var i = 0; i < items.Count; i++)
        {
            var rest = items.Where((_, j) => j != i).ToList();
            foreach (var p in Permutations(rest))
                yield return new[] { items[i] }.Concat(p).ToList();
        }
    }

    public static TheoryData<string, ProviderEvent[], RecipientStatus, EmailStatus> Sets() => new()
    {
        {
            "accepted, temporary failure, delivered, opened, clicked",
            new[]
            {
                T.Pe("acc", K.Accepted, 1), T.Pe("tmp", K.TemporaryFailure, 2, reason: "mailbox busy", code: 421),
                T.Pe("dlv", K.Delivered, 3, code: 250), T.Pe("opn", K.Opened, 4), T.Pe("clk", K.Clicked, 5, url: "https://x.io/a"),
            },
            RecipientStatus.Delivered, EmailStatus.Clicked
        },
        {
            "accepted, delivered, permanent failure (a delayed bounce)",
            new[] { T.Pe("acc", K.Accepted, 1), T.Pe("dlv", K.Delivered, 2), T.Pe("bnc", K.PermanentFailure, 3, reason: "bounce", code: 550) },
            RecipientStatus.Failed, EmailStatus.Failed
        },
        {
            "accepted, temporary failure twice, delivered",
            new[]
            {
                T.Pe("acc", K.Accepted, 1), T.Pe("tmp1", K.TemporaryFailure, 2, reason: "busy", code: 421),
                T.Pe("tmp2", K.TemporaryFailure, 4, reason: "still busy", code: 450), T.Pe("dlv", K.Delivered, 6),
            },
            RecipientStatus.Delivered, EmailStatus.Delivered
        },
        {
            "accepted, temporary failure twice (no fate yet), opened, unsubscribed, complained",
            new[]
            {
                T.Pe("acc", K.Accepted, 1), T.Pe("tmp1", K.TemporaryFailure, 2, reason: "busy"),
                T.Pe("tmp2", K.TemporaryFailure, 2, reason: "busy again"), T.Pe("opn", K.Opened, 5),
                T.Pe("uns", K.Unsubscribed, 6), T.Pe("cmp", K.Complained, 7),
            },
            RecipientStatus.Deferred, EmailStatus.Sent
        },
        {
            "delivered twice (same time, different ids), opened twice, clicked",
            new[]
            {
                T.Pe("dlv-b", K.Delivered, 3, code: 250), T.Pe("dlv-a", K.Delivered, 3, code: 251),
                T.Pe("opn1", K.Opened, 4), T.Pe("opn2", K.Opened, 4), T.Pe("clk", K.Clicked, 9, url: "https://x.io/b"),
            },
            RecipientStatus.Delivered, EmailStatus.Clicked
        },
    };

    /// <summary>Each set with its first and last events repeated (distinct ids are deduplicated by id).</summary>
    private static IReadOnlyList<ProviderEvent> WithDuplicates(ProviderEvent[] set) => set.Concat(new[] { set[0], set[^1] }).ToList();

    [Theory]
    [MemberData(nameof(Sets))]
    public void Every_arrival_order_through_the_email_state_ends_the_same(string name, ProviderEvent[] set, RecipientStatus fate, EmailStatus status)
    {
        var start = SentTo(Rcpt);
        string? expectedRecipient = null;
        var count = 0;
        foreach (var order in Permutations(WithDuplicates(set)))
        {
            var s = start;
            foreach (var pe in order) s = s.Run(new ApplyProviderEvent(Id, pe), T.Ctx(T.T0.AddHours(1)));
            var recipient = T.Json(s.Recipients[Rcpt]);
            expectedRecipient ??= recipient;
            Assert.True(expectedRecipient == recipient, $"{name}: order {string.Join(",", order.Select(e => e.EventId))} gave {recipient}, expected {expectedRecipient}");
            Assert.Equal(fate, s.Recipients[Rcpt].Status);
            Assert.Equal(status, s.Status);
            Assert.Equal(set.Length, s.SeenProviderEvents.Count);
            count++;
        }
        var n = set.Length + 2;
        Assert.Equal(Enumerable.Range(1, n).Aggregate(1, (a, b) => a * b), count);   // n! orders, duplicates included
    }

    [Theory]
    [MemberData(nameof(Sets))]
    public void Every_arrival_order_through_ApplyToRecipient_ends_the_same(string name, ProviderEvent[] set, RecipientStatus fate, EmailStatus status)
    {
        _ = status;
        string? expected = null;
        foreach (var order in Permutations(WithDuplicates(set)))
        {
            var r = new RecipientState(Rcpt, RecipientStatus.Pending);
            foreach (var pe in order) r = EmailState.ApplyToRecipient(r, pe);
            var json = T.Json(r);
            expected ??= json;
            Assert.True(expected == json, $"{name}: order {string.Join(",", order.Select(e => e.EventId))} gave {json}, expected {expected}");
            Assert.Equal(fate, r.Status);
        }
    }

    [Fact]
    public void The_winning_event_of_a_rank_is_the_latest_and_carries_its_reason()
    {
        var r = new RecipientState(Rcpt, RecipientStatus.Pending);
        r = EmailState.ApplyToRecipient(r, T.Pe("tmp2", K.TemporaryFailure, 4, reason: "still busy", code: 450));
        r = EmailState.ApplyToRecipient(r, T.Pe("tmp1", K.TemporaryFailure, 2, reason: "busy", code: 421));
        Assert.Equal(RecipientStatus.Deferred, r.Status);
        Assert.Equal("still busy", r.Reason);
        Assert.Equal(450, r.Code);
        Assert.Equal(T.T0.AddMinutes(4), r.StatusAt);
    }

    // ---------------------------------------------------------------- aggregate over recipients

    private static EmailState With(EmailState s, params ProviderEvent[] events)
    {
        foreach (var pe in events) s = s.Run(new ApplyProviderEvent(Id, pe), T.Ctx(T.T0.AddHours(1)));
        return s;
    }

    private static readonly string[] Three = { "a@example.com", "b@example.com", "c@example.com" };

    private static ProviderEvent[] All(K kind, int minute, params string[] who) =>
        who.Select(a => T.Pe($"{kind}-{a}-{minute}", kind, minute, a, url: kind == K.Clicked ? "https://x.io" : null)).ToArray();

    [Fact]
    public void Aggregate_status_over_recipients()
    {
        var s = SentTo(Three);
        Assert.Equal(EmailStatus.Sent, s.Status);
        Assert.Equal(EmailStatus.Sent, With(s, All(K.Accepted, 1, Three)).Status);
        Assert.Equal(EmailStatus.Sent, With(s, All(K.Delivered, 1, "a@example.com", "b@example.com")).Status);
        Assert.Equal(EmailStatus.Delivered, With(s, All(K.Delivered, 1, Three)).Status);
        Assert.Equal(EmailStatus.Opened, With(s, All(K.Delivered, 1, Three).Concat(All(K.Opened, 2, "b@example.com")).ToArray()).Status);
        Assert.Equal(EmailStatus.Clicked, With(s, All(K.Delivered, 1, Three).Concat(All(K.Opened, 2, "b@example.com"))
            .Concat(All(K.Clicked, 3, "c@example.com")).ToArray()).Status);
        Assert.Equal(EmailStatus.PartiallyFailed, With(s, All(K.Delivered, 1, "a@example.com", "b@example.com")
            .Concat(All(K.PermanentFailure, 2, "c@example.com")).ToArray()).Status);
        Assert.Equal(EmailStatus.Sent, With(s, All(K.Delivered, 1, "a@example.com")
            .Concat(All(K.PermanentFailure, 2, "c@example.com")).ToArray()).Status);   // b not final yet
        Assert.Equal(EmailStatus.Failed, With(s, All(K.PermanentFailure, 2, Three)).Status);
        // An opened/clicked email that is not yet delivered to everybody is still "sent".
        Assert.Equal(EmailStatus.Sent, With(s, All(K.Delivered, 1, "a@example.com").Concat(All(K.Opened, 2, "a@example.com")).ToArray()).Status);
    }

    [Fact]
    public void Late_accepted_after_delivered_changes_nothing()
    {
        var s = With(SentTo(Rcpt), T.Pe("dlv", K.Delivered, 5));
        var late = With(s, T.Pe("acc", K.Accepted, 1), T.Pe("acc-later-time", K.Accepted, 9), T.Pe("tmp", K.TemporaryFailure, 10));
        Assert.Equal(T.Json(s.Recipients[Rcpt]), T.Json(late.Recipients[Rcpt]));
        Assert.Equal(EmailStatus.Delivered, late.Status);
    }

    [Fact]
    public void Opened_after_delivered_keeps_the_delivered_fate()
    {
        var s = With(SentTo(Rcpt), T.Pe("dlv", K.Delivered, 5), T.Pe("opn", K.Opened, 6));
        var r = s.Recipients[Rcpt];
        Assert.Equal(RecipientStatus.Delivered, r.Status);
        Assert.Equal("dlv", r.StatusEventId);
        Assert.Equal(1, r.Opens);
        Assert.Equal(EmailStatus.Opened, s.Status);
    }

    [Fact]
    public void Permanent_failure_is_final()
    {
        var s = With(SentTo(Rcpt), T.Pe("bnc", K.PermanentFailure, 5, reason: "no such user", code: 550),
            T.Pe("dlv", K.Delivered, 9), T.Pe("acc", K.Accepted, 10), T.Pe("tmp", K.TemporaryFailure, 11));
        var r = s.Recipients[Rcpt];
        Assert.Equal(RecipientStatus.Failed, r.Status);
        Assert.Equal("no such user", r.Reason);
        Assert.Equal(550, r.Code);
        Assert.Equal(EmailStatus.Failed, s.Status);
    }
}

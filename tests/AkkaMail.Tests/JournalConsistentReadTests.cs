using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Tests;

/// <summary>The API's read of one email while the projection is behind: from the gateway's state, else the stored view.</summary>
public class JournalConsistentReadTests
{
    private static readonly EmailState Accepted =
        EmailState.Empty("e1").Apply(new EmailAccepted("e1", "u1", T.Content("ann@example.com"), T.T0));

    /// <summary>A view as an earlier version stored it: the provider's acceptance named like ours.</summary>
    private static readonly EmailView StoredBefore = EmailView.Of(Accepted) with
    {
        Timeline = new[] { new TimelineView(T.T0, "accepted", null, null), new TimelineView(T.T0, "accepted", "ann@example.com", null) },
    };

    private static JournalConsistentEmailReadStore Store(EmailStateResult fromGateway, bool behind)
    {
        var progress = new ProjectionProgress("read-side");
        var head = new JournalHead();
        head.Use(_ => Task.FromResult(10L));
        progress.Loaded(behind ? 5 : 10);
        return new JournalConsistentEmailReadStore(new OneView(StoredBefore), progress, head,
            (_, _) => Task.FromResult(fromGateway), TimeSpan.FromMilliseconds(10));
    }

    [Fact]
    public async Task Behind_the_journal_an_email_is_read_from_its_actors_state_through_the_gateway()
    {
        var view = await Store(new EmailStateResult.Found(Accepted), behind: true).GetAsync("e1");
        Assert.Equal(Accepted.Version, view!.Version);
        Assert.Equal(new[] { "accepted" }, view.Timeline.Select(t => t.Type));
        Assert.Null(await Store(new EmailStateResult.Unknown("e1"), behind: true).GetAsync("e1"));
    }

    [Fact]
    public async Task Without_an_answer_in_time_or_caught_up_the_stored_view_is_answered_in_current_names()
    {
        foreach (var store in new[] { Store(new EmailStateResult.Unavailable("e1"), behind: true), Store(new EmailStateResult.Unknown("e1"), behind: false) })
        {
            var view = await store.GetAsync("e1");
            Assert.Equal(new[] { "accepted", "accepted_by_provider" }, view!.Timeline.Select(t => t.Type));
            var page = await store.ListAsync(new EmailQuery("u1", 10));
            Assert.Equal(new[] { "accepted", "accepted_by_provider" }, Assert.Single(page.Items).Timeline.Select(t => t.Type));
        }
    }

    private sealed class OneView(EmailView view) : IEmailReadStore
    {
        public Task<EmailView?> GetAsync(string id, CancellationToken ct = default) => Task.FromResult<EmailView?>(view);
        public Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default) => Task.FromResult(new EmailPage(new[] { view }, null));
        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit, CancellationToken ct = default) => throw new NotSupportedException();
        public Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default) =>
            throw new NotSupportedException();
    }
}

using AkkaMail.Gateway;
using AkkaMail.Projections;

namespace AkkaMail.ReadModel;

/// <summary>
/// The read model as the API reads it: never older than the journal. The views are a projection that may be behind
/// (by milliseconds under load, by more right after a start). While it is behind the journal's head, an email is
/// read from its actor (which holds exactly what it last answered) instead; a list, and a message-id lookup that
/// finds nothing, wait for the projection to catch up with the head as it was when they were asked. Timelines stored
/// before <see cref="Domain.EmailEventTypes"/> are answered with its current names.
/// </summary>
/// <param name="readState">The email's state from its actor: <see cref="IEmailGateway.GetStateAsync"/>, reached through
/// a delegate because the gateway itself resolves provider message ids through this store.</param>
/// <param name="catchUpWait">How long a message-id lookup waits for the projection before giving up (the caller
/// answers 503, and the provider retries).</param>
public sealed class JournalConsistentEmailReadStore(
    IEmailReadStore inner,
    ProjectionProgress progress,
    JournalHead head,
    Func<string, CancellationToken, Task<EmailStateResult>> readState,
    TimeSpan catchUpWait) : IEmailReadStore
{
    public Task InitializeAsync(CancellationToken ct = default) => inner.InitializeAsync(ct);

    public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default) => inner.UpsertAsync(views, ct);

    public async Task<EmailView?> GetAsync(string id, CancellationToken ct = default)
    {
        var behind = await BehindAsync(ct);
        if (behind is null) return Current(await inner.GetAsync(id, ct));
        return await readState(id, ct) switch
        {
            EmailStateResult.Found f => EmailView.Of(f.State),
            EmailStateResult.Unknown => null,
            // No answer in time: the projection's view is the best we have.
            _ => Current(await inner.GetAsync(id, ct)),
        };
    }

    private static EmailView? Current(EmailView? view) => view?.WithCurrentEventTypes();

    public async Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default)
    {
        if (await inner.FindIdByProviderMessageIdAsync(providerMessageId, ct) is { } id) return id;
        if (await BehindAsync(ct) is not { } target) return null;
        // The send that produced this message id may be in the journal and not yet in the index.
        if (!await CaughtUpAsync(target, ct))
            throw new ReadModelBehindException(
                $"The read model is behind the journal (at {progress.Offset} of {target}); the message id cannot be resolved yet.");
        return await inner.FindIdByProviderMessageIdAsync(providerMessageId, ct);
    }

    /// <summary>A list reflects at least what the journal held when it was asked for: it waits (up to the catch-up
    /// wait) for the projection to get there. Past that wait it answers from the read model as it is.</summary>
    public async Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default)
    {
        if (await BehindAsync(ct) is { } target) await CaughtUpAsync(target, ct);
        var page = await inner.ListAsync(query, ct);
        return page with { Items = page.Items.Select(v => v.WithCurrentEventTypes()).ToArray() };
    }

    public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) =>
        inner.FindUnsettledAsync(limit, afterId, ct);

    public Task<IReadOnlyList<SettledPosition>> FindSettledAsync(SettledPosition after, DateTimeOffset upTo, int limit, CancellationToken ct = default) =>
        inner.FindSettledAsync(after, upTo, limit, ct);

    public Task<IReadOnlyList<SentPosition>> FindAwaitingReportAsync(string provider, SentPosition after, DateTimeOffset sentUpTo, int limit,
        CancellationToken ct = default) => inner.FindAwaitingReportAsync(provider, after, sentUpTo, limit, ct);

    public Task DeleteAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default) => inner.DeleteAsync(ids, ct);

    public Task<AddressPage> FindByAddressAsync(string? userId, string address, string? afterId, int limit, CancellationToken ct = default) =>
        inner.FindByAddressAsync(userId, address, afterId, limit, ct);

    /// <summary>Waits (up to the catch-up wait) for the projection to reach <paramref name="target"/>; false if it did not.</summary>
    private async Task<bool> CaughtUpAsync(long target, CancellationToken ct)
    {
        try
        {
            await progress.WhenReached(target).WaitAsync(catchUpWait, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>The journal's head when the projection is behind it (or not started), else null.</summary>
    private async Task<long?> BehindAsync(CancellationToken ct)
    {
        var highest = await head.HighestOrderingAsync(ct);
        if (highest is null) return progress.Started ? null : long.MaxValue;
        return progress.Offset >= highest ? null : highest;
    }
}

/// <summary>The read model cannot answer yet: it is behind the journal for longer than the caller may wait.</summary>
public sealed class ReadModelBehindException(string message) : Exception(message);

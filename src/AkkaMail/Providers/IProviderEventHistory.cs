using AkkaMail.Domain;

namespace AkkaMail.Providers;

/// <summary>A provider whose own log of events can be searched by our email id (Mailgun's events API): the reconciliation
/// job asks it about emails whose reports (webhooks) did not all arrive.</summary>
public interface IProviderEventHistory
{
    /// <summary>The provider's name, as recorded on the emails sent through it (<see cref="EmailState.Provider"/>).</summary>
    string Provider { get; }

    /// <summary>Every report the provider's log holds about email <paramref name="emailId"/> since
    /// <paramref name="since"/>, as the provider's webhooks would have brought them (same event ids).</summary>
    Task<ProviderHistory> FindEventsAsync(string emailId, DateTimeOffset since, CancellationToken ct);
}

/// <summary>What a provider's event log answered.</summary>
public abstract record ProviderHistory
{
    private ProviderHistory() { }

    /// <summary>The reports found, oldest first (possibly none).</summary>
    public sealed record Found(IReadOnlyList<ProviderEvent> Events) : ProviderHistory;

    /// <summary>The provider asks us to stop asking for <paramref name="Wait"/> (420, 429).</summary>
    public sealed record RateLimited(TimeSpan Wait, string Reason) : ProviderHistory;

    /// <summary>The log could not be read (down, timed out, unreadable): nothing is known.</summary>
    public sealed record Unavailable(string Reason) : ProviderHistory;
}

using Akka.Persistence.Query;
using AkkaMail.Domain;
using AkkaMail.Projections;
using AkkaMail.Suppressions;

namespace AkkaMail.ReadModel;

/// <summary>A suppression derived from a provider event, for the projection to store.</summary>
public sealed record ProjectedSuppression(string UserId, Suppression Suppression);

/// <summary>
/// The write side of the read model, for its projection: views (with the provider-message-id and unsettled-email
/// indexes they carry) and suppressions, stored together with the projection's offset.
/// </summary>
public interface IEmailProjectionStore
{
    /// <summary>The stored offset of <paramref name="projection"/>, 0 if none.</summary>
    Task<long> LoadOffsetAsync(string projection, CancellationToken ct = default);

    /// <summary>
    /// Stores the views (version-guarded: an older view never replaces a newer one), the suppressions (kept if
    /// already there; not re-added over a lift newer than the event) and the offset. SQLite: one transaction.
    /// MongoDB: idempotent writes, then the offset.
    /// </summary>
    Task StoreAsync(string projection, IReadOnlyCollection<EmailView> views, IReadOnlyCollection<ProjectedSuppression> suppressions,
        long offset, CancellationToken ct = default);

    /// <summary>Drops every view, every suppression derived from events and the offset (a rebuild starts from here).
    /// Lifted suppressions stay lifted.</summary>
    Task ResetAsync(string projection, CancellationToken ct = default);
}

/// <summary>
/// Projects the journal's email events into the read model (views, message-id index, unsettled index) and the
/// suppression lists. It folds each email's events with the same pure <see cref="EmailState.Apply"/> the email actor
/// recovers with, so a view is exactly what the actor would answer after the same events. States are cached (bounded);
/// an email not in the cache is folded from its events in the journal up to the event at hand.
/// </summary>
/// <param name="live">The states live email actors publish: an email whose actor is in memory is taken from there (no
/// fold, no cached copy); its state may already include later events, which are in the journal too, and views are
/// version-guarded, so a later batch never stores an older view.</param>
public sealed class EmailReadSideProjection(
    IEmailProjectionStore store,
    ISuppressionStore suppressions,
    Func<string, long, Task<IReadOnlyList<object>>> eventsUpTo,
    int cachedStates = 10_000,
    Actors.LiveEmailStates? live = null,
    IReadOnlyCollection<string>? searchHeaders = null) : IProjectionHandler
{
    public const string Name = "email-read-side";

    private readonly EmailStateCache _states = new(eventsUpTo, cachedStates);

    public long StatesRebuilt => _states.StatesRebuilt;

    public Task<long> LoadOffsetAsync(CancellationToken ct) => store.LoadOffsetAsync(Name, ct);

    public async Task HandleAsync(IReadOnlyList<EventEnvelope> batch, long offset, CancellationToken ct)
    {
        var touched = new Dictionary<string, EmailState>(StringComparer.Ordinal);
        HashSet<string>? fromActors = null;
        List<ProjectedSuppression>? suppressed = null;
        foreach (var envelope in batch)
        {
            if (envelope.Event is not IEmailEvent evt) continue;
            var id = evt.EmailId;
            if (!touched.TryGetValue(id, out var state) && !_states.TryGet(id, out state!)) state = null;
            if (live is not null && live.TryGet(id, out var current))
            {
                (fromActors ??= new(StringComparer.Ordinal)).Add(id);
                if (current.Version >= envelope.SequenceNr)
                {
                    // The actor is already past this event (it persisted it, then published its state).
                    touched[id] = state is not null && state.Version > current.Version ? state : current;
                    if (SuppressionRules.Of(evt, current.UserId) is { } fromLive) (suppressed ??= new()).Add(fromLive);
                    continue;
                }
                // Committed, but the actor has not applied it yet (the projection was woken by the commit): its state
                // is the best base to apply the event to.
                if (state is null || state.Version < current.Version) state = current;
            }
            if (state is null || state.Version < envelope.SequenceNr - 1)
                state = await _states.FoldAsync(envelope.PersistenceId, id, envelope.SequenceNr - 1);
            // Already in this state: a batch handed over again after a crash between its store and the offset.
            if (state.Version >= envelope.SequenceNr) continue;
            state = state.Apply(evt);
            touched[id] = state;
            if (SuppressionRules.Of(evt, state.UserId) is { } projected) (suppressed ??= new()).Add(projected);
        }

        var views = new List<EmailView>(touched.Count);
        foreach (var state in touched.Values) views.Add(EmailView.Of(state, searchHeaders));
        await store.StoreAsync(Name, views, (IReadOnlyCollection<ProjectedSuppression>?)suppressed ?? Array.Empty<ProjectedSuppression>(), offset, ct);

        // Only once stored: after a failure the batch comes again and must find the states as they were before it.
        // States taken from live actors are not copied into the cache (their actors hold them); a cached fold of such
        // an email is dropped, being older.
        foreach (var (id, state) in touched)
        {
            if (fromActors?.Contains(id) == true) _states.Forget(id);
            else _states.Remember(id, state);
        }
        if (suppressed is not null)
            foreach (var user in suppressed.Select(s => s.UserId).Distinct())
                await suppressions.RefreshAsync(user, ct);
    }
}

/// <summary>Which provider events put a recipient on its sender's suppression list.</summary>
public static class SuppressionRules
{
    public static string? ReasonFor(ProviderEvent pe) => pe.Kind switch
    {
        ProviderEventKind.PermanentFailure => "bounce" + (pe.Reason is { Length: > 0 } r ? $" ({r})" : ""),
        ProviderEventKind.Complained => "complaint",
        ProviderEventKind.Unsubscribed => "unsubscribe",
        _ => null,
    };

    /// <summary>Does this event put its recipient on the suppression list?</summary>
    public static bool Suppresses(IEmailEvent evt) =>
        evt is EmailEvents.ProviderEventRecorded { Event: var pe } && ReasonFor(pe) is not null;

    /// <summary>The suppression this event of an email of <paramref name="userId"/> adds, or null.</summary>
    public static ProjectedSuppression? Of(IEmailEvent evt, string? userId) =>
        evt is EmailEvents.ProviderEventRecorded { Event: var pe } && !string.IsNullOrEmpty(userId) && ReasonFor(pe) is { } reason
            ? new ProjectedSuppression(userId, new Suppression(pe.Recipient, reason, pe.OccurredAt, evt.EmailId))
            : null;
}

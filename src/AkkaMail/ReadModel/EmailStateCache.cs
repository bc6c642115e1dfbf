using AkkaMail.Domain;

namespace AkkaMail.ReadModel;

/// <summary>
/// The email states a projection of the journal keeps between batches, so that most events apply to a state at hand:
/// bounded (the oldest out first; an email evicted while still changing is folded again when it next changes), and
/// rebuilt from the journal when missing or behind. Not thread-safe: one projection's loop uses it.
/// </summary>
/// <param name="eventsUpTo">An email's events up to a sequence number, after its snapshot when retention replaced the
/// events before it (<see cref="Hosting.JournalQueries.EventsUpToAsync"/>).</param>
public sealed class EmailStateCache(Func<string, long, Task<IReadOnlyList<object>>> eventsUpTo, int capacity)
{
    private readonly Dictionary<string, EmailState> _states = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    /// <summary>States folded from the journal (cache misses).</summary>
    public long StatesRebuilt { get; private set; }

    public bool TryGet(string emailId, out EmailState state) => _states.TryGetValue(emailId, out state!);

    /// <summary>The state after the email's events 1..<paramref name="toSequenceNr"/>, from the journal.</summary>
    public async Task<EmailState> FoldAsync(string persistenceId, string emailId, long toSequenceNr)
    {
        var state = EmailState.Empty(emailId);
        if (toSequenceNr <= 0) return state;
        StatesRebuilt++;
        foreach (var e in await eventsUpTo(persistenceId, toSequenceNr))
        {
            // A snapshot comes first when retention replaced the events before it.
            if (e is EmailState snapshot) state = snapshot;
            else if (e is IEmailEvent evt) state = state.Apply(evt);
        }
        return state;
    }

    /// <summary>Keeps <paramref name="state"/> (call only once the batch that made it is stored: a batch that failed
    /// comes again and must find the states as they were before it).</summary>
    public void Remember(string emailId, EmailState state)
    {
        if (!_states.ContainsKey(emailId))
        {
            _order.Enqueue(emailId);
            while (_order.Count > capacity && _order.TryDequeue(out var old)) _states.Remove(old);
        }
        _states[emailId] = state;
    }

    public void Forget(string emailId) => _states.Remove(emailId);
}

using System.Collections.Concurrent;
using AkkaMail.Domain;

namespace AkkaMail.Actors;

/// <summary>
/// The current state of every email actor in memory, published by the actors themselves after each change (an
/// immutable <see cref="EmailState"/> reference: no copy) and withdrawn when they stop. The sender reads it before the
/// provider's rate limit to drop a redundant job without a message round trip; an email not here (passivated) is
/// judged by its actor as usual. Only a look: decisions stay with the actor.
/// </summary>
public sealed class LiveEmailStates
{
    private readonly ConcurrentDictionary<string, EmailState> _states = new(StringComparer.Ordinal);

    public void Publish(string emailId, EmailState state) => _states[emailId] = state;

    public void Withdraw(string emailId) => _states.TryRemove(emailId, out _);

    public bool TryGet(string emailId, out EmailState state) => _states.TryGetValue(emailId, out state!);
}

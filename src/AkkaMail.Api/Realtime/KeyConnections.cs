namespace AkkaMail.Api.Realtime;

/// <summary>
/// The live real-time connections (SignalR hub connections, server-sent-event streams), by the API key that opened
/// them. Revoking a key (<c>DELETE /api/users/{id}/keys/{keyId}</c>) ends them at once: a request is authenticated
/// when it starts, and a stream lives on long after that. A connection that registers after its key was revoked (it
/// authenticated just before) is ended at once too: revoked keys are remembered for <see cref="RememberRevoked"/>,
/// far longer than the moments between a request's authentication and its registration.
/// In process: a revocation ends the connections of the node that served it.
/// </summary>
public sealed class KeyConnections(TimeProvider clock)
{
    public static readonly TimeSpan RememberRevoked = TimeSpan.FromMinutes(5);

    private readonly object _gate = new();
    private readonly Dictionary<(string UserId, string KeyId), HashSet<Registration>> _live = new();
    private readonly Dictionary<(string UserId, string KeyId), DateTimeOffset> _revoked = new();

    /// <summary>How many connections are registered.</summary>
    public int Count
    {
        get { lock (_gate) return _live.Values.Sum(c => c.Count); }
    }

    /// <summary>
    /// Registers a connection opened with <paramref name="keyId"/> of <paramref name="userId"/>; <paramref name="abort"/>
    /// ends it (it must not block; it may be called from any thread, once at most). Dispose the answer when the
    /// connection ends.
    /// </summary>
    public IDisposable Register(string userId, string keyId, Action abort)
    {
        var registration = new Registration(this, (userId, keyId), abort);
        bool revoked;
        lock (_gate)
        {
            revoked = _revoked.ContainsKey(registration.Key);
            if (!revoked)
            {
                if (!_live.TryGetValue(registration.Key, out var set)) _live[registration.Key] = set = new HashSet<Registration>();
                set.Add(registration);
            }
        }
        if (revoked) registration.Abort();
        return registration;
    }

    /// <summary>Ends every connection opened with <paramref name="keyId"/> of <paramref name="userId"/>, and any that registers later.
    /// Answers how many it ended.</summary>
    public int Revoke(string userId, string keyId)
    {
        var now = clock.GetUtcNow();
        HashSet<Registration>? connections;
        lock (_gate)
        {
            foreach (var old in _revoked.Where(r => now - r.Value > RememberRevoked).Select(r => r.Key).ToList()) _revoked.Remove(old);
            _revoked[(userId, keyId)] = now;
            _live.Remove((userId, keyId), out connections);
        }
        return connections?.Count(c => c.Abort()) ?? 0;
    }

    private void Remove(Registration registration)
    {
        lock (_gate)
        {
            if (!_live.TryGetValue(registration.Key, out var set)) return;
            set.Remove(registration);
            if (set.Count == 0) _live.Remove(registration.Key);
        }
    }

    private sealed class Registration(KeyConnections owner, (string UserId, string KeyId) key, Action abort) : IDisposable
    {
        private int _aborted;

        public (string UserId, string KeyId) Key => key;

        public bool Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 1) return false;
            try { abort(); }
            catch (ObjectDisposedException) { } // it ended on its own meanwhile
            return true;
        }

        public void Dispose() => owner.Remove(this);
    }
}

namespace AkkaMail.Providers;

/// <summary>
/// Remembers webhook tokens to reject replays. A database-backed implementation can replace the in-memory one.
/// A token is remembered only once its event is applied (<see cref="IsKnownAsync"/> first, then the event, then
/// <see cref="TryRememberAsync"/>): a crash between the two leaves the token unknown, so the provider's retry is
/// applied (and deduplicated by its event id) instead of being refused as a replay.
/// </summary>
public interface IWebhookTokenStore
{
    /// <summary>Is <paramref name="token"/> remembered and not yet expired?</summary>
    ValueTask<bool> IsKnownAsync(string token, CancellationToken ct);

    /// <summary>Remembers <paramref name="token"/> until <paramref name="expiresAt"/>; false when it was already remembered (a replay).</summary>
    ValueTask<bool> TryRememberAsync(string token, DateTimeOffset expiresAt, CancellationToken ct);

    /// <summary>Forgets <paramref name="token"/>: for a webhook that was remembered but could not be processed, so that
    /// Mailgun's retry of it is not mistaken for a replay. The default does nothing.</summary>
    ValueTask ForgetAsync(string token, CancellationToken ct) => ValueTask.CompletedTask;
}

/// <summary>Bounded, expiring in-memory token store. When full, the entry closest to expiry is evicted first.</summary>
public sealed class InMemoryWebhookTokenStore : IWebhookTokenStore
{
    private readonly TimeProvider _clock;
    private readonly int _capacity;
    private readonly Dictionary<string, DateTimeOffset> _tokens = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, DateTimeOffset> _byExpiry = new();
    private readonly Lock _gate = new();

    public InMemoryWebhookTokenStore(TimeProvider clock, int capacity = 100_000)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _clock = clock;
        _capacity = capacity;
    }

    public InMemoryWebhookTokenStore() : this(TimeProvider.System) { }

    public int Count { get { lock (_gate) return _tokens.Count; } }

    public ValueTask<bool> TryRememberAsync(string token, DateTimeOffset expiresAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        ct.ThrowIfCancellationRequested();
        var now = _clock.GetUtcNow();
        lock (_gate)
        {
            while (_byExpiry.TryPeek(out var oldest, out var at) && at <= now) Remove(oldest, at);
            if (_tokens.TryGetValue(token, out var existing) && existing > now) return ValueTask.FromResult(false);
            if (expiresAt <= now) return ValueTask.FromResult(true); // already past its window: nothing to remember
            while (_tokens.Count >= _capacity && _byExpiry.TryDequeue(out var victim, out var victimAt))
                if (_tokens.TryGetValue(victim, out var v) && v == victimAt) _tokens.Remove(victim);
            _tokens[token] = expiresAt;
            _byExpiry.Enqueue(token, expiresAt);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<bool> IsKnownAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        var now = _clock.GetUtcNow();
        lock (_gate) return ValueTask.FromResult(_tokens.TryGetValue(token, out var expires) && expires > now);
    }

    public ValueTask ForgetAsync(string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(token);
        lock (_gate) _tokens.Remove(token); // its queue entry no longer matches and is skipped when it comes up
        return ValueTask.CompletedTask;
    }

    private void Remove(string token, DateTimeOffset at)
    {
        _byExpiry.Dequeue();
        if (_tokens.TryGetValue(token, out var v) && v == at) _tokens.Remove(token);
    }
}

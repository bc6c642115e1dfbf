namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Every endpoint, as last read from the store, for the projection (which endpoints want a change) and the worker
/// (where and with which secrets to send). Reloaded when this process changes an endpoint (<see cref="Invalidate"/>)
/// and at least every <c>maxAge</c>, for changes made by another instance sharing the store.
/// </summary>
public sealed class WebhookEndpointCache(IWebhookEndpointStore store, TimeProvider clock, TimeSpan? maxAge = null)
{
    private readonly TimeSpan _maxAge = maxAge ?? TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Snapshot? _current;
    private long _generation;

    private sealed record Snapshot(IReadOnlyList<WebhookEndpoint> All, IReadOnlyDictionary<string, WebhookEndpoint> ById, DateTimeOffset LoadedAt, long Generation);

    public void Invalidate() => Interlocked.Increment(ref _generation);

    public async Task<IReadOnlyList<WebhookEndpoint>> AllAsync(CancellationToken ct = default) => (await CurrentAsync(ct)).All;

    public async Task<WebhookEndpoint?> GetAsync(string id, CancellationToken ct = default) =>
        (await CurrentAsync(ct)).ById.GetValueOrDefault(id);

    private async Task<Snapshot> CurrentAsync(CancellationToken ct)
    {
        var generation = Interlocked.Read(ref _generation);
        if (_current is { } c && c.Generation == generation && clock.GetUtcNow() - c.LoadedAt < _maxAge) return c;
        await _gate.WaitAsync(ct);
        try
        {
            generation = Interlocked.Read(ref _generation);
            if (_current is { } again && again.Generation == generation && clock.GetUtcNow() - again.LoadedAt < _maxAge) return again;
            var all = await store.ListAsync(null, ct);
            var loaded = new Snapshot(all, all.ToDictionary(e => e.Id, StringComparer.Ordinal), clock.GetUtcNow(), generation);
            _current = loaded;
            return loaded;
        }
        finally { _gate.Release(); }
    }
}

/// <summary>Wakes the delivery worker (new deliveries: a ping, a redelivery), once it runs; until then, nothing.</summary>
public sealed class WebhookWorkerSignal
{
    private volatile Action? _wake;

    public void Use(Action wake) => _wake = wake;

    public void Wake() => _wake?.Invoke();
}

namespace AkkaMail.Stores;

/// <summary>
/// A store's start-up work (schema, indexes) done once, by the first caller, while the others wait for it. A run that
/// fails counts as not done: the next caller tries again (a database that was down at start is set up once it is up).
/// </summary>
public sealed class AsyncOnce
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _done;

    public async Task RunAsync(Func<CancellationToken, Task> work, CancellationToken ct = default)
    {
        if (_done) return;
        await _gate.WaitAsync(ct);
        try
        {
            if (_done) return;
            await work(ct);
            _done = true;
        }
        finally
        {
            _gate.Release();
        }
    }
}

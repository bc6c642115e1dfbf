using Akka.Event;

namespace AkkaMail.Persistence.MongoDb;

/// <summary>
/// Index creation started at plugin start and awaited by every call: if it failed, the next call tries again,
/// so a database that is briefly unreachable at start is not fatal.
/// </summary>
internal sealed class RetryingInitialization(Func<Task> initialize, ILoggingAdapter log, string what)
{
    private Task _initialized = Task.CompletedTask;

    public void Start() => _initialized = initialize();

    public async Task EnsureAsync()
    {
        try
        {
            await _initialized.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log.Warning(e, "Creating the {0} indexes failed; retrying.", what);
            _initialized = initialize();
            await _initialized.ConfigureAwait(false);
        }
    }
}

internal static class CallTimeout
{
    /// <summary>A token cancelled by <paramref name="cancellationToken"/> or after <paramref name="timeout"/>.</summary>
    public static CancellationTokenSource Link(CancellationToken cancellationToken, TimeSpan timeout)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        return cts;
    }
}

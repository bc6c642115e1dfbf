namespace AkkaMail.Api.Realtime;

/// <summary>
/// How many connections <see cref="EmailHub"/> has open. With none, the <see cref="StatusBroadcasterActor"/> skips
/// SignalR: a send to groups nobody is in still built two group names, a cancellation source and SignalR's own
/// per-send state, four changes per email. A connection is counted before it can call any hub method, so a client
/// that has subscribed is always counted.
/// </summary>
public sealed class HubConnections
{
    private int _open;

    public int Open => Volatile.Read(ref _open);

    public void Opened() => Interlocked.Increment(ref _open);

    public void Closed() => Interlocked.Decrement(ref _open);
}

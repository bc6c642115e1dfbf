using System.Collections.Concurrent;

namespace AkkaMail.Projections;

/// <summary>
/// How far one projection has come, shared in-process between the runner that advances it and whoever needs to
/// know: the accept path and webhooks (wait until an event is projected), GET (is the read model behind the
/// journal?), metrics and readiness (lag). Thread-safe.
/// </summary>
public sealed class ProjectionProgress(string name, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private long _offset = -1;
    private long _eventsProjected;
    private long _lastBatchTicks;
    private volatile Exception? _lastFailure;
    private long _lastFailureTicks;
    private readonly ConcurrentDictionary<string, List<(long SequenceNr, TaskCompletionSource Done)>> _eventWaiters = new(StringComparer.Ordinal);
    private readonly Lock _offsetGate = new();
    private readonly List<(long Offset, TaskCompletionSource Done)> _offsetWaiters = new();

    public string Name { get; } = name;

    /// <summary>The ordering of the last event projected and stored; -1 until the runner has loaded its offset.</summary>
    public long Offset => Interlocked.Read(ref _offset);

    public bool Started => Offset >= 0;

    /// <summary>Events projected by this process.</summary>
    public long EventsProjected => Interlocked.Read(ref _eventsProjected);

    /// <summary>When the runner last stored a batch.</summary>
    public DateTimeOffset? LastBatchAt => Ticks(ref _lastBatchTicks);

    /// <summary>The runner's last failure (it restarts with backoff), and when.</summary>
    public Exception? LastFailure => _lastFailure;
    public DateTimeOffset? LastFailureAt => Ticks(ref _lastFailureTicks);

    private static DateTimeOffset? Ticks(ref long field)
    {
        var t = Interlocked.Read(ref field);
        return t == 0 ? null : new DateTimeOffset(t, TimeSpan.Zero);
    }

    /// <summary>
    /// Completes once the event (<paramref name="persistenceId"/>, <paramref name="sequenceNr"/>) is projected and
    /// stored. Register BEFORE the event is persisted: a waiter registered after the runner passed the event would
    /// wait for a later one. <see cref="Cancel"/> removes what a failed persist leaves behind.
    /// </summary>
    public Task WhenProjected(string persistenceId, long sequenceNr)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var list = _eventWaiters.GetOrAdd(persistenceId, static _ => new List<(long, TaskCompletionSource)>());
        lock (list)
        {
            list.Add((sequenceNr, done));
            // The runner may have removed this (empty) list between GetOrAdd and the lock: put it back.
            _eventWaiters.TryAdd(persistenceId, list);
        }
        return done.Task;
    }

    /// <summary>Drops the waiters of a persistence id (its actor stopped; nobody is told).</summary>
    public void Cancel(string persistenceId)
    {
        if (!_eventWaiters.TryRemove(persistenceId, out var list)) return;
        lock (list)
        {
            foreach (var (_, done) in list) done.TrySetCanceled();
            list.Clear();
        }
    }

    /// <summary>Completes once the projection has stored everything up to <paramref name="offset"/> (an ordering).</summary>
    public Task WhenReached(long offset)
    {
        lock (_offsetGate)
        {
            if (Offset >= offset) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _offsetWaiters.Add((offset, done));
            return done.Task;
        }
    }

    /// <summary>Called by the runner once it has loaded its stored offset.</summary>
    public void Loaded(long offset) => Advance(offset);

    /// <summary>Called by the runner after a batch and its offset are stored.</summary>
    public void Stored(long offset, IReadOnlyList<(string PersistenceId, long SequenceNr)> events)
    {
        Interlocked.Add(ref _eventsProjected, events.Count);
        Interlocked.Exchange(ref _lastBatchTicks, _clock.GetUtcNow().UtcTicks);
        if (!_eventWaiters.IsEmpty)
            foreach (var (pid, seq) in events) Projected(pid, seq);
        Advance(offset);
    }

    /// <summary>
    /// A node that does not run the projection follows the one that does (cluster mode): the runner has stored
    /// everything up to <paramref name="offset"/>. Offsets only move forward, so an old or repeated report changes
    /// nothing.
    /// </summary>
    public void Followed(long offset)
    {
        if (offset > Offset) Interlocked.Exchange(ref _lastBatchTicks, _clock.GetUtcNow().UtcTicks);
        Advance(offset);
    }

    /// <summary>The events someone waits on with <see cref="WhenProjected"/> (a follower looks up where they are in the journal).</summary>
    public IReadOnlyList<(string PersistenceId, long SequenceNr)> WaitedEvents
    {
        get
        {
            if (_eventWaiters.IsEmpty) return [];
            var waited = new List<(string, long)>();
            foreach (var (pid, list) in _eventWaiters)
                lock (list)
                    foreach (var (seq, _) in list) waited.Add((pid, seq));
            return waited;
        }
    }

    /// <summary>Everything of <paramref name="persistenceId"/> up to <paramref name="sequenceNr"/> is projected and stored:
    /// its waiters up to there complete.</summary>
    public void Projected(string persistenceId, long sequenceNr)
    {
        if (!_eventWaiters.TryGetValue(persistenceId, out var list)) return;
        lock (list)
        {
            list.RemoveAll(w =>
            {
                if (w.SequenceNr > sequenceNr) return false;
                w.Done.TrySetResult();
                return true;
            });
            if (list.Count == 0) _eventWaiters.TryRemove(new KeyValuePair<string, List<(long, TaskCompletionSource)>>(persistenceId, list));
        }
    }

    public void Failed(Exception e)
    {
        _lastFailure = e;
        Interlocked.Exchange(ref _lastFailureTicks, _clock.GetUtcNow().UtcTicks);
    }

    private void Advance(long offset)
    {
        lock (_offsetGate)
        {
            if (offset > Offset) Interlocked.Exchange(ref _offset, offset);
            _offsetWaiters.RemoveAll(w =>
            {
                if (w.Offset > offset) return false;
                w.Done.TrySetResult();
                return true;
            });
        }
    }
}

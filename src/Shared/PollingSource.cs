// Compiled into both persistence libraries (linked by their .csproj), so that each ships alone without a shared assembly.
using Akka;
using Akka.Streams;
using Akka.Streams.Stage;

namespace AkkaMail.Persistence.Query;

/// <summary>The result of one query of a <see cref="PollingSource{T}"/>.</summary>
/// <param name="Items">The elements read, in stream order.</param>
/// <param name="MayHaveMore">Query again as soon as the elements are consumed (the page was full).</param>
/// <param name="Completed">The stream ends after these elements.</param>
internal readonly record struct PollResult<T>(IReadOnlyList<T> Items, bool MayHaveMore, bool Completed);

/// <summary>
/// One materialization's query. <see cref="FetchAsync"/> is never called again before its previous task has
/// completed, so an implementation keeps its cursor in plain fields.
/// </summary>
internal interface IPollingQuery<T>
{
    Task<PollResult<T>> FetchAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A source that reads pages of a query with backpressure: it queries only when downstream demands and its
/// buffer (one page) is empty, with at most one query in flight. A current query (no refresh interval) reads
/// page after page until its query says it is complete. A live query, once it has caught up (a page that was not
/// full), queries again on every refresh-interval tick and on every wake-up (e.g. an in-process commit): a
/// wake-up during a query causes one more query after it; wake-ups without demand are remembered, not queried.
/// </summary>
internal sealed class PollingSource<T> : GraphStage<SourceShape<T>>
{
    private readonly Func<IPollingQuery<T>> _newQuery;
    private readonly TimeSpan? _refreshInterval;
    private readonly Func<Action, IDisposable>? _subscribe;
    private readonly string _name;

    /// <param name="newQuery">Creates the query of one materialization (its cursor).</param>
    /// <param name="refreshInterval">Polling period of a live query; null for a current query.</param>
    /// <param name="subscribe">Subscribes a wake-up (called from any thread, must not block); null for none.</param>
    /// <param name="name">Name of the stage.</param>
    public PollingSource(Func<IPollingQuery<T>> newQuery, TimeSpan? refreshInterval, Func<Action, IDisposable>? subscribe, string name)
    {
        _newQuery = newQuery;
        _refreshInterval = refreshInterval;
        _subscribe = subscribe;
        _name = name;
        Shape = new SourceShape<T>(Out);
    }

    public Outlet<T> Out { get; } = new("PollingSource.out");

    public override SourceShape<T> Shape { get; }

    protected override Attributes InitialAttributes => Attributes.CreateName(_name);

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : TimerGraphStageLogic, IOutHandler
    {
        private const string PollTimer = "poll";
        private readonly PollingSource<T> _stage;
        private readonly Queue<T> _buffer = new();
        private readonly CancellationTokenSource _cancellation = new();
        private IPollingQuery<T> _query = null!;
        private Action<Task<PollResult<T>>> _onResult = null!;
        private Action<NotUsed> _onWake = null!;
        private IDisposable? _subscription;
        private bool _inFlight;
        private bool _mayHaveMore = true;
        private bool _completed;
        private int _wakePending;

        public Logic(PollingSource<T> stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.Out, this);
        }

        public override void PreStart()
        {
            _query = _stage._newQuery();
            _onResult = GetAsyncCallback<Task<PollResult<T>>>(OnResult);
            if (_stage._refreshInterval is { } interval)
                ScheduleRepeatedly(PollTimer, interval);
            if (_stage._subscribe is { } subscribe)
            {
                _onWake = GetAsyncCallback<NotUsed>(_ => OnWake());
                _subscription = subscribe(Wake);
            }
        }

        public override void PostStop()
        {
            _subscription?.Dispose();
            _cancellation.Cancel();
            _cancellation.Dispose();
        }

        /// <summary>
        /// Called on the notifying thread (the journal writer's): one async callback per pending wake-up, so a
        /// burst of commits costs one interlocked exchange each and one message to the stage.
        /// </summary>
        private void Wake()
        {
            if (Interlocked.Exchange(ref _wakePending, 1) == 0) _onWake(NotUsed.Instance);
        }

        private void OnWake()
        {
            Volatile.Write(ref _wakePending, 0);
            _mayHaveMore = true;
            TryFetch();
        }

        protected override void OnTimer(object timerKey)
        {
            _mayHaveMore = true;
            TryFetch();
        }

        public void OnPull()
        {
            if (_buffer.Count > 0) Push(_stage.Out, _buffer.Dequeue());
            if (_buffer.Count == 0 && _completed) CompleteStage();
            else TryFetch();
        }

        public void OnDownstreamFinish(Exception cause) => CompleteStage();

        private void TryFetch()
        {
            if (_inFlight || _completed || !_mayHaveMore || _buffer.Count > 0 || !IsAvailable(_stage.Out)) return;
            _inFlight = true;
            _mayHaveMore = false;
            Task<PollResult<T>> task;
            try
            {
                task = _query.FetchAsync(_cancellation.Token);
            }
            catch (Exception e)
            {
                task = Task.FromException<PollResult<T>>(e);
            }
            var onResult = _onResult;
            task.ContinueWith(t => onResult(t), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        private void OnResult(Task<PollResult<T>> task)
        {
            _inFlight = false;
            if (task.IsCanceled) return; // the stage is stopping
            if (task.Exception is { } error)
            {
                FailStage(error.InnerExceptions.Count == 1 ? error.InnerException! : error);
                return;
            }
            var result = task.Result;
            foreach (var item in result.Items) _buffer.Enqueue(item);
            if (result.MayHaveMore) _mayHaveMore = true;
            if (result.Completed) _completed = true;
            if (_buffer.Count > 0 && IsAvailable(_stage.Out)) Push(_stage.Out, _buffer.Dequeue());
            if (_buffer.Count == 0 && _completed) CompleteStage();
            else TryFetch();
        }
    }
}

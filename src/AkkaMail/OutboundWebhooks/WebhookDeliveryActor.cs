using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Carries out one delivery attempt and records its outcome: the POST (secrets decrypted for it alone), the retry rules
/// (<see cref="WebhookDeliveryPolicy"/>), the delivery's new state, and the endpoint's run of failures (a stated run, or
/// a 410, disables it). Never throws: a failure to record leaves the delivery pending, to be attempted again.
/// </summary>
public sealed class WebhookAttempts(
    IWebhookDeliveryStore deliveries,
    IWebhookEndpointStore endpointStore,
    WebhookEndpointCache endpoints,
    WebhookSecretProtector protector,
    WebhookSender sender,
    OutboundWebhookSettings settings,
    TimeProvider clock,
    Observability.AkkaMailMetrics? metrics,
    ILoggingAdapter log)
{
    public async Task<WebhookDelivery> AttemptAsync(WebhookDelivery delivery)
    {
        try
        {
            var endpoint = await endpoints.GetAsync(delivery.EndpointId);
            if (endpoint is not { Enabled: true }) return delivery;
            var now = clock.GetUtcNow();
            var secrets = endpoint.SigningSecrets(now).Select(s => protector.Unprotect(s.Protected)).ToList();
            var result = await sender.PostAsync(endpoint.Url, delivery.EventId, now, delivery.Payload, secrets, settings.Timeout);
            var (next, effect) = WebhookDeliveryPolicy.After(delivery, result, clock.GetUtcNow(), settings, Random.Shared.NextDouble());
            if (effect == EndpointEffect.Gone)
            {
                // Disabled before the delivery is recorded as done: until then it holds back its email's next change, so
                // nothing more is sent to an endpoint that said it is gone.
                if (await endpointStore.GetAsync(endpoint.Id) is { } stored) // as stored: the cached copy may be older
                    await endpointStore.UpdateAsync(stored with { Enabled = false, DisabledReason = "the endpoint answered 410 Gone", UpdatedAt = now });
                endpoints.Invalidate();
                log.Warning("Outbound webhook endpoint {0} disabled: it answered 410 Gone", endpoint.Id);
            }
            await deliveries.SaveAttemptAsync(next);
            metrics?.OutboundWebhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", OutcomeOf(next, result)));
            switch (effect)
            {
                case EndpointEffect.Succeeded when endpoint.ConsecutiveFailures > 0:
                    await endpointStore.RecordResultAsync(endpoint.Id, succeeded: true, settings.DisableAfter, "", now);
                    endpoints.Invalidate();
                    break;
                case EndpointEffect.GivenUp:
                    if (await endpointStore.RecordResultAsync(endpoint.Id, succeeded: false, settings.DisableAfter,
                            $"{settings.DisableAfter} deliveries in a row failed", now))
                    {
                        log.Warning("Outbound webhook endpoint {0} disabled: {1} deliveries in a row failed", endpoint.Id, settings.DisableAfter);
                        endpoints.Invalidate();
                    }
                    break;
            }
            return next;
        }
        catch (Exception e)
        {
            log.Warning(e, "Outbound webhook delivery {0}: the attempt could not be recorded; it stays pending", delivery.Id);
            return delivery;
        }
    }

    private static string OutcomeOf(WebhookDelivery next, WebhookAttemptResult result) => next.Status switch
    {
        WebhookDeliveryStatus.Succeeded => "succeeded",
        WebhookDeliveryStatus.Failed => result is WebhookAttemptResult.Refused ? "refused" : "failed",
        _ => "retried",
    };
}

/// <summary>
/// The delivery worker: each enabled endpoint has a lane of its own, a stream (queue → throttle at the endpoint's rate →
/// at most <c>parallelism</c> attempts at once), so a slow or dead endpoint fills only its own lane and never delays
/// another endpoint, nor mail sending (which shares nothing with it but the thread pool). The actor polls the store
/// for due deliveries (every poll interval, and at once when the projection stored new ones), offers each lane what it
/// has room for, and keeps the ids in flight so that none is offered twice. The store hands out only the first pending
/// delivery of each email, so one email's changes reach an endpoint in order.
/// </summary>
public sealed class WebhookDeliveryActor : ReceiveActor, IWithTimers
{
    public const string Name = "outbound-webhook-delivery";

    /// <summary>Poll now (new deliveries were stored, or one was requeued).</summary>
    public sealed record Wake
    {
        public static readonly Wake Instance = new();
    }

    private sealed record Tick;
    private sealed record Prune;
    private sealed record Polled(IReadOnlyList<(string EndpointId, IReadOnlyList<WebhookDelivery> Due)> Work);
    private sealed record PollFailed(Exception Cause);
    private sealed record Finished(string EndpointId, string DeliveryId);

    private sealed class Lane(ISourceQueueWithComplete<WebhookDelivery> queue, UniqueKillSwitch kill)
    {
        public ISourceQueueWithComplete<WebhookDelivery> Queue { get; } = queue;
        public UniqueKillSwitch Kill { get; } = kill;
        public HashSet<string> InFlight { get; } = new(StringComparer.Ordinal);
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IWebhookDeliveryStore _store;
    private readonly WebhookEndpointCache _endpoints;
    private readonly WebhookAttempts _attempts;
    private readonly OutboundWebhookSettings _settings;
    private readonly TimeProvider _clock;
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private bool _polling;
    private bool _pollAgain;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Deliveries a lane holds at once (queued, throttled or in flight).</summary>
    private int LaneCapacity => _settings.Parallelism * 2;

    public WebhookDeliveryActor(IWebhookDeliveryStore store, WebhookEndpointCache endpoints, WebhookAttempts attempts,
        OutboundWebhookSettings settings, TimeProvider clock)
    {
        _store = store;
        _endpoints = endpoints;
        _attempts = attempts;
        _settings = settings;
        _clock = clock;
        Receive<Tick>(_ => Poll());
        Receive<Prune>(_ =>
        {
            var log = _log;
            _store.PruneAsync(_clock.GetUtcNow() - _settings.Retention).ContinueWith(t =>
            {
                if (t.IsFaulted) log.Warning(t.Exception!.GetBaseException(), "Outbound webhooks: could not prune the delivery log");
                else if (t.Result > 0) log.Info("Outbound webhooks: {0} deliveries older than {1} left the log", t.Result, _settings.Retention);
            });
        });
        Receive<Wake>(_ => Poll());
        Receive<Polled>(OnPolled);
        Receive<PollFailed>(f =>
        {
            _polling = false;
            _log.Warning(f.Cause, "Outbound webhooks: could not read due deliveries; trying again");
        });
        Receive<Finished>(f =>
        {
            // The next change of that email may now go: poll (polls in a row coalesce into one at a time).
            if (_lanes.TryGetValue(f.EndpointId, out var lane) && lane.InFlight.Remove(f.DeliveryId)) Poll();
        });
    }

    public static Props Props(IWebhookDeliveryStore store, WebhookEndpointCache endpoints, WebhookAttempts attempts,
        OutboundWebhookSettings settings, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new WebhookDeliveryActor(store, endpoints, attempts, settings, clock));

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("poll", new Tick(), _settings.PollInterval);
        Timers.StartPeriodicTimer("prune", new Prune(), TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));
    }

    protected override void PostStop()
    {
        foreach (var lane in _lanes.Values) lane.Kill.Shutdown();
    }

    private void Poll()
    {
        if (_polling)
        {
            _pollAgain = true;
            return;
        }
        _polling = true;
        _pollAgain = false;
        var inFlight = _lanes.ToDictionary(l => l.Key, l => (IReadOnlySet<string>)new HashSet<string>(l.Value.InFlight), StringComparer.Ordinal);
        PollAsync(inFlight).PipeTo(Self, failure: e => new PollFailed(e));
    }

    private async Task<Polled> PollAsync(IReadOnlyDictionary<string, IReadOnlySet<string>> inFlight)
    {
        var work = new List<(string, IReadOnlyList<WebhookDelivery>)>();
        var now = _clock.GetUtcNow();
        foreach (var endpoint in await _endpoints.AllAsync())
        {
            if (!endpoint.Enabled) continue;
            var busy = inFlight.GetValueOrDefault(endpoint.Id);
            var room = LaneCapacity - (busy?.Count ?? 0);
            if (room <= 0) continue;
            // The heads in flight come back from the store too (still pending): ask for room beyond them.
            var due = await _store.DueAsync(endpoint.Id, now, room + (busy?.Count ?? 0));
            var fresh = due.Where(d => busy is null || !busy.Contains(d.Id)).Take(room).ToList();
            work.Add((endpoint.Id, fresh));
        }
        return new Polled(work);
    }

    private void OnPolled(Polled polled)
    {
        _polling = false;
        var enabled = new HashSet<string>(polled.Work.Select(w => w.EndpointId), StringComparer.Ordinal);
        foreach (var (endpointId, due) in polled.Work)
        {
            if (due.Count == 0) continue;
            var lane = LaneOf(endpointId);
            foreach (var delivery in due)
            {
                if (lane.InFlight.Count >= LaneCapacity) break;
                if (!lane.InFlight.Add(delivery.Id)) continue;
                var self = Self;
                lane.Queue.OfferAsync(delivery).ContinueWith(t =>
                {
                    if (!t.IsCompletedSuccessfully || t.Result is not QueueOfferResult.Enqueued)
                        self.Tell(new Finished(endpointId, delivery.Id));
                }, TaskContinuationOptions.ExecuteSynchronously);
            }
        }
        // A lane whose endpoint is gone or disabled, and idle, is closed.
        foreach (var (id, lane) in _lanes.Where(l => !enabled.Contains(l.Key) && l.Value.InFlight.Count == 0).ToList())
        {
            lane.Kill.Shutdown();
            _lanes.Remove(id);
        }
        if (_pollAgain) Poll();
    }

    private Lane LaneOf(string endpointId)
    {
        if (_lanes.TryGetValue(endpointId, out var lane)) return lane;
        var self = Self;
        var attempts = _attempts;
        var ((queue, kill), _) = Source.Queue<WebhookDelivery>(LaneCapacity, OverflowStrategy.DropNew)
            .ViaMaterialized(KillSwitches.Single<WebhookDelivery>(), Keep.Both)
            .Throttle(_settings.RatePerSecond, TimeSpan.FromSeconds(1), _settings.Burst, ThrottleMode.Shaping)
            .SelectAsyncUnordered(_settings.Parallelism, attempts.AttemptAsync)
            .ToMaterialized(Sink.ForEach<WebhookDelivery>(d => self.Tell(new Finished(endpointId, d.Id))), Keep.Both)
            .Run(Context.Materializer());
        lane = new Lane(queue, kill);
        _lanes[endpointId] = lane;
        return lane;
    }
}

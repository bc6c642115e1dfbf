using AkkaMail.Domain;
using AkkaMail.Observability;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace AkkaMail.Providers;

/// <summary>The breaker of each provider on a route (<c>akkamail.breaker</c>).</summary>
/// <param name="Failures">Calls within <paramref name="Window"/> a breaker needs to have seen before it may open.</param>
/// <param name="FailureRatio">The share of those calls that failed transiently which opens it.</param>
/// <param name="BreakDuration">How long an open breaker stays open before it lets one probe through.</param>
/// <param name="LongReset">A rate-limit answer asking to wait at least this long takes its provider off the route for that long.</param>
public sealed record BreakerSettings(int Failures, TimeSpan Window, TimeSpan BreakDuration, TimeSpan LongReset, double FailureRatio = 0.5)
{
    public static readonly BreakerSettings Default = new(5, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60), 0.5);
}

/// <summary>
/// An ordered list of providers behind one <see cref="IEmailProvider"/>: each attempt goes to the first provider whose
/// circuit breaker (Polly) is closed, or half-open and free for its probe, and that no long rate-limit reset holds off.
/// One attempt goes to one provider only: a transient failure is the attempt's outcome (retried later, by then perhaps
/// through the next provider), never sent on at once to another, since a timeout may have reached the first provider.
/// Whoever accepted the message names itself in <see cref="SendOutcome.Sent.Provider"/>, which the journal keeps.
/// </summary>
public sealed class ProviderRoute : IEmailProvider
{
    private sealed class Member(IEmailProvider provider, ResiliencePipeline<SendOutcome> breaker, CircuitBreakerStateProvider state)
    {
        public IEmailProvider Provider { get; } = provider;
        public ResiliencePipeline<SendOutcome> Breaker { get; } = breaker;
        public CircuitBreakerStateProvider State { get; } = state;
        /// <summary>Ticks (UTC) until which a long rate-limit reset holds this provider off the route; 0: none.</summary>
        public long HeldOffUntilTicks;
    }

    private readonly Member[] _members;
    private readonly BreakerSettings _settings;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly AkkaMailMetrics? _metrics;
    /// <summary>The index of the provider that carried the last send: a change is logged once, not per email.</summary>
    private int _current;

    public ProviderRoute(IReadOnlyList<IEmailProvider> providers, BreakerSettings settings, ILogger log,
        AkkaMailMetrics? metrics = null, TimeProvider? clock = null)
    {
        if (providers.Count == 0) throw new ArgumentException("A route needs at least one provider.", nameof(providers));
        _settings = settings;
        _clock = clock ?? TimeProvider.System;
        _log = log;
        _metrics = metrics;
        _members = providers.Select(Build).ToArray();
    }

    public string Name => string.Join(">", _members.Select(m => m.Provider.Name));

    /// <summary>The breaker state of each provider, in route order (for health and tests).</summary>
    public IReadOnlyList<(string Provider, CircuitState State, bool HeldOff)> States =>
        _members.Select(m => (m.Provider.Name, m.State.CircuitState, IsHeldOff(m))).ToArray();

    private Member Build(IEmailProvider provider)
    {
        var state = new CircuitBreakerStateProvider();
        var name = provider.Name;
        // The breaker's windows and break run on the route's clock, as the rate-limit hold-off does.
        var pipeline = new ResiliencePipelineBuilder<SendOutcome> { TimeProvider = _clock }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<SendOutcome>
            {
                // Opens when at least Failures calls were made within the window and at least FailureRatio of them failed
                // transiently: a success a moment before an outage must not hold the breaker closed for a whole window.
                FailureRatio = _settings.FailureRatio,
                MinimumThroughput = _settings.Failures,
                SamplingDuration = _settings.Window,
                BreakDuration = _settings.BreakDuration,
                ShouldHandle = new PredicateBuilder<SendOutcome>().HandleResult(o => o is SendOutcome.Transient).Handle<Exception>(),
                StateProvider = state,
                OnOpened = args =>
                {
                    _log.LogWarning("Provider {Provider}: circuit breaker opened for {BreakDuration}: {Ratio:P0} or more of at least {Failures} calls within {Window} failed ({Reason})",
                        name, args.BreakDuration, _settings.FailureRatio, _settings.Failures, _settings.Window,
                        args.Outcome.Result is SendOutcome.Transient t ? t.Reason : args.Outcome.Exception?.Message);
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    _log.LogInformation("Provider {Provider}: circuit breaker half-open, one probe goes through", name);
                    return default;
                },
                OnClosed = _ =>
                {
                    _log.LogWarning("Provider {Provider}: circuit breaker closed, the provider takes mail again", name);
                    return default;
                },
            })
            .Build();
        return new Member(provider, pipeline, state);
    }

    private bool IsHeldOff(Member m) => Interlocked.Read(ref m.HeldOffUntilTicks) > _clock.GetUtcNow().UtcTicks;

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        for (var i = 0; i < _members.Length; i++)
        {
            var member = _members[i];
            // An open breaker is asked all the same: it answers at once (BrokenCircuitException) while open, and turns
            // half-open on the first call after its break, which is how a provider gets its probe.
            if (IsHeldOff(member)) continue;
            if (email.Attempt > 1 && await AcceptedElsewhereAsync(member, email, ct) is { } earlier) return earlier;
            SendOutcome outcome;
            try
            {
                outcome = await member.Breaker.ExecuteAsync(
                    static (state, token) => new ValueTask<SendOutcome>(state.Provider.SendAsync(state.Email, token)),
                    (member.Provider, Email: email), ct);
            }
            catch (BrokenCircuitException)
            {
                // Opened meanwhile, or half-open with its probe already out: the next provider.
                continue;
            }
            Noticed(i, email);
            // The journal records which provider each attempt went to, failed or not.
            outcome = outcome switch
            {
                SendOutcome.Transient { Provider: null } t => t with { Provider = member.Provider.Name },
                SendOutcome.Permanent { Provider: null } p => p with { Provider = member.Provider.Name },
                SendOutcome.Sent { Provider: null } s => s with { Provider = member.Provider.Name },
                _ => outcome,
            };
            if (outcome is SendOutcome.Transient { RetryAfter: { } wait } && wait >= _settings.LongReset)
            {
                Interlocked.Exchange(ref member.HeldOffUntilTicks, (_clock.GetUtcNow() + wait).UtcTicks);
                _log.LogWarning("Provider {Provider}: rate limited until {Until}; off the route until then", member.Provider.Name,
                    _clock.GetUtcNow() + wait);
            }
            return outcome;
        }
        return new SendOutcome.Transient($"no provider available: {string.Join(", ", _members.Select(m => $"{m.Provider.Name} {Describe(m)}"))}",
            ShortestWait());
    }

    /// <summary>A retry about to go through <paramref name="chosen"/>: did another provider of the route accept an earlier
    /// attempt whose answer was lost? (The chosen provider looks for itself, if it can.)</summary>
    private async Task<SendOutcome?> AcceptedElsewhereAsync(Member chosen, OutgoingEmail email, CancellationToken ct)
    {
        foreach (var other in _members)
        {
            if (other == chosen) continue;
            var provider = other.Provider is MeasuredEmailProvider measured ? measured.Inner : other.Provider;
            if (provider is not IAcceptanceLookup lookup) continue;
            if (await lookup.FindAcceptedAsync(email, ct) is { } messageId)
                return new SendOutcome.Sent(messageId, other.Provider.Name);
        }
        return null;
    }

    private string Describe(Member m) => IsHeldOff(m) ? "rate limited" : $"breaker {m.State.CircuitState.ToString().ToLowerInvariant()}";

    private TimeSpan ShortestWait()
    {
        var now = _clock.GetUtcNow().UtcTicks;
        var waits = _members.Select(m => Interlocked.Read(ref m.HeldOffUntilTicks) is var until && until > now
            ? TimeSpan.FromTicks(until - now) : _settings.BreakDuration);
        return waits.Min();
    }

    /// <summary>A send through another provider than the first is a failover: counted each time, logged when the route
    /// moves from one provider to another.</summary>
    private void Noticed(int index, OutgoingEmail email)
    {
        if (index > 0)
            _metrics?.ProviderFailovers.Add(1, new KeyValuePair<string, object?>("from", _members[0].Provider.Name),
                new KeyValuePair<string, object?>("to", _members[index].Provider.Name));
        var previous = Interlocked.Exchange(ref _current, index);
        if (previous == index) return;
        if (index > 0)
            _log.LogWarning("Provider route: failover from {From} to {To} (email {EmailId}): {Reasons}", _members[previous].Provider.Name,
                _members[index].Provider.Name, email.EmailId,
                string.Join(", ", _members.Take(index).Select(m => $"{m.Provider.Name} {Describe(m)}")));
        else
            _log.LogWarning("Provider route: back to {To} from {From}", _members[0].Provider.Name, _members[previous].Provider.Name);
    }
}

using System.Collections.Concurrent;
using AkkaMail.MailgunFake;

namespace AkkaMail.CrashTests;

/// <summary>
/// Plays Mailgun's webhooks for every message the fake accepted: "accepted", then "delivered", or a permanent
/// failure (bounce) for recipients that <see cref="Bounces"/> picks. Unlike Mailgun (which gives up on "delivered"
/// after one try) each event is posted again until the service answers 200: while the service is down the events
/// wait, so that every email has a final fate, and a 200 is a promise the service must keep across a kill.
/// The fake's own automatic webhooks are off (it posts the same events for every recipient).
/// </summary>
public sealed class WebhookPump : IAsyncDisposable
{
    public sealed record Posted(string MessageId, string EmailId, string Recipient, string Event, int Attempts, int Status, DateTimeOffset At);

    private readonly MailgunFakeServer _fake;
    private readonly Func<string, bool> _bounces;
    private readonly TimeSpan _delay;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _parallel;
    private readonly ConcurrentDictionary<int, Task> _running = new();
    private readonly ConcurrentQueue<Posted> _posted = new();
    private readonly Task _loop;
    private int _taken, _pending, _next;

    public WebhookPump(MailgunFakeServer fake, Func<string, bool> bounces, TimeSpan delay, int parallelism = 16)
    {
        _fake = fake;
        _bounces = bounces;
        _delay = delay;
        _parallel = new SemaphoreSlim(parallelism);
        _loop = Task.Run(LoopAsync);
    }

    public Func<string, bool> Bounces => _bounces;
    /// <summary>Messages whose events are not all answered 200 (or 406) yet.</summary>
    public int Pending => Volatile.Read(ref _pending) + (_fake.Messages.Count - Volatile.Read(ref _taken));
    /// <summary>Every event that got its final answer.</summary>
    public IReadOnlyList<Posted> PostedEvents => _posted.ToArray();
    public long NonOkAnswers;
    /// <summary>Called (on the pump's thread) as soon as an event got its final answer.</summary>
    public Action<Posted>? OnPosted { get; set; }

    public async Task WaitIdleAsync(TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (Pending > 0 && DateTime.UtcNow < until) await Task.Delay(50);
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var messages = _fake.Messages;
            for (var i = _taken; i < messages.Count; i++)
            {
                var message = messages[i];
                Interlocked.Increment(ref _pending);
                var key = Interlocked.Increment(ref _next);
                _running[key] = Task.Run(async () =>
                {
                    try { await PlayAsync(message); }
                    catch (OperationCanceledException) { }
                    finally
                    {
                        Interlocked.Decrement(ref _pending);
                        _running.TryRemove(key, out _);
                    }
                });
            }
            Volatile.Write(ref _taken, messages.Count);
            try { await Task.Delay(20, _stop.Token); } catch (OperationCanceledException) { }
        }
    }

    private async Task PlayAsync(FakeSentMessage message)
    {
        var ct = _stop.Token;
        await Task.Delay(_delay, ct);
        message.Variables.TryGetValue("email-id", out var emailId);
        foreach (var recipient in message.Recipients)
        {
            var events = _bounces(recipient)
                ? new[] { FakeWebhookEvent.Accepted, FakeWebhookEvent.PermanentFailure }
                : new[] { FakeWebhookEvent.Accepted, FakeWebhookEvent.Delivered };
            foreach (var evt in events)
            {
                for (var attempt = 1; ; attempt++)
                {
                    await _parallel.WaitAsync(ct);
                    FakeWebhookDelivery delivery;
                    try { delivery = await _fake.PostWebhookAsync(message, recipient, evt, ct: ct); }
                    finally { _parallel.Release(); }
                    if (delivery.StatusCode is 200 or 406)
                    {
                        var posted = new Posted(message.MessageId, emailId ?? "", recipient, evt.EventType + (evt.Severity is { } s ? "/" + s : ""),
                            attempt, delivery.StatusCode.Value, DateTimeOffset.UtcNow);
                        _posted.Enqueue(posted);
                        OnPosted?.Invoke(posted);
                        break;
                    }
                    Interlocked.Increment(ref NonOkAnswers);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 100 * attempt)), ct);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        try { await Task.WhenAll(_running.Values).WaitAsync(TimeSpan.FromSeconds(15)); }
        catch (Exception) { /* cancelled */ }
        _stop.Dispose();
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace AkkaMail.MailgunFake;

/// <summary>
/// The events API (<c>GET /v3/{domain}/events</c>) over the events the fake produced (an <c>accepted</c> event per
/// recipient of each accepted message), and the "accepted then the answer is lost" fault.
/// Filters: <c>event</c>, <c>user-variables</c> (a JSON object: every pair must match), <c>message-id</c>,
/// <c>recipient</c>; window <c>begin</c>/<c>end</c> (epoch seconds or RFC 2822), <c>ascending</c> (yes/no), <c>limit</c>
/// (≤ 300, default 100); pages through <c>paging.next</c> (an offset token), an empty page at the end, as Mailgun does.
/// Events older than <see cref="EventRetention"/> are gone.
/// </summary>
public sealed partial class MailgunFakeServer
{
    private readonly List<(DateTimeOffset At, JsonObject Data)> _events = [];
    private int _droppedAfterAccept;
    private double _acceptThenDropRate;
    private long _eventRetentionTicks = TimeSpan.FromDays(5).Ticks;

    /// <summary>Share of send calls that Mailgun accepts (message kept, events and webhooks produced) but whose answer is
    /// lost: the connection is dropped instead of answering 200.</summary>
    public double AcceptThenDropRate
    {
        get => Volatile.Read(ref _acceptThenDropRate);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1);
            Volatile.Write(ref _acceptThenDropRate, value);
        }
    }

    /// <summary>Send calls accepted whose answer was dropped.</summary>
    public int DroppedAfterAcceptCount => Volatile.Read(ref _droppedAfterAccept);

    /// <summary>How long the events API keeps an event (Mailgun: days, by plan). Default 5 days.</summary>
    public TimeSpan EventRetention
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _eventRetentionTicks));
        set => Interlocked.Exchange(ref _eventRetentionTicks, value.Ticks);
    }

    /// <summary>Event-search calls received.</summary>
    public int EventSearchCount => Volatile.Read(ref _eventSearches);
    private int _eventSearches;

    private bool RollAcceptThenDrop()
    {
        var rate = AcceptThenDropRate;
        if (rate <= 0) return false;
        lock (_random) return _random.NextDouble() < rate;
    }

    /// <summary>Logs an <c>accepted</c> event per recipient; by recipient.</summary>
    private Dictionary<string, JsonObject> RecordAccepted(FakeSentMessage message)
    {
        var accepted = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var recipient in message.Recipients)
        {
            var data = FakeMailgunEvents.BuildEventData(message, recipient, FakeWebhookEvent.Accepted, message.ReceivedAt);
            lock (_gate) _events.Add((message.ReceivedAt, data));
            accepted[recipient] = data;
        }
        return accepted;
    }

    /// <summary>Logs <paramref name="evt"/> as happening to <paramref name="recipient"/> now, and returns it.</summary>
    private JsonObject RecordEvent(FakeSentMessage message, string recipient, FakeWebhookEvent evt)
    {
        var now = _options.TimeProvider.GetUtcNow();
        var data = FakeMailgunEvents.BuildEventData(message, recipient, evt, now);
        lock (_gate) _events.Add((now, data));
        return data;
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<int> _eventsFailures = new();

    /// <summary>The next event searches answer with these statuses, in order (429 and 420 with the rate-limit headers and
    /// text of a send's, waiting <see cref="MailgunFakeOptions.RateLimitRetryAfter"/>).</summary>
    public void EnqueueEventsFailures(params int[] statuses)
    {
        foreach (var s in statuses) _eventsFailures.Enqueue(s);
    }

    private async Task HandleEventsAsync(HttpContext ctx)
    {
        Interlocked.Increment(ref _eventSearches);
        if (!IsAuthorized(ctx.Request))
        {
            await RejectAsync(ctx, 401, "Forbidden", json: false).ConfigureAwait(false);
            return;
        }
        if (InOutage)
        {
            await RejectAsync(ctx, 503, "Service Unavailable").ConfigureAwait(false);
            return;
        }
        if (_eventsFailures.TryDequeue(out var injected))
        {
            await InjectedFailureAsync(ctx, injected).ConfigureAwait(false);
            return;
        }
        var q = ctx.Request.Query;
        var now = _options.TimeProvider.GetUtcNow();
        var ascending = string.Equals(q["ascending"], "yes", StringComparison.OrdinalIgnoreCase);
        var begin = ParseTime(q["begin"]);
        var end = ParseTime(q["end"]);
        var limit = int.TryParse(q["limit"], out var l) ? Math.Clamp(l, 1, 300) : 100;
        var offset = int.TryParse(q["page"], out var o) ? Math.Max(0, o) : 0;
        Dictionary<string, string>? variables = null;
        if (q["user-variables"].ToString() is { Length: > 0 } uv)
        {
            try { variables = JsonSerializer.Deserialize<Dictionary<string, string>>(uv); }
            catch (JsonException)
            {
                await RejectAsync(ctx, 400, "'user-variables' is not a JSON object of strings").ConfigureAwait(false);
                return;
            }
        }
        string? eventType = q["event"], messageId = q["message-id"], recipient = q["recipient"];
        var oldest = now - EventRetention;

        List<JsonObject> matching;
        lock (_gate)
        {
            matching = _events
                .Where(e => e.At >= oldest && (begin is null || e.At >= begin) && (end is null || e.At <= end))
                .Where(e => eventType is null || (string?)e.Data["event"] == eventType)
                .Where(e => recipient is null || string.Equals((string?)e.Data["recipient"], recipient, StringComparison.OrdinalIgnoreCase))
                .Where(e => messageId is null || (string?)e.Data["message"]?["headers"]?["message-id"] == messageId.Trim('<', '>'))
                .Where(e => variables is null || variables.All(v => (string?)e.Data["user-variables"]?[v.Key] == v.Value))
                .OrderBy(e => e.At)
                .Select(e => (JsonObject)e.Data.DeepClone())
                .ToList();
        }
        if (!ascending) matching.Reverse();
        var page = matching.Skip(offset).Take(limit).ToList();
        var baseUrl = $"{BaseUrl}/v3/{_options.Domain}/events{ctx.Request.QueryString.Value}";
        string Page(int at) => System.Text.RegularExpressions.Regex.Replace(baseUrl, @"([?&])page=\d+&?", "$1").TrimEnd('&', '?')
                               + (baseUrl.Contains('?') ? "&" : "?") + "page=" + at.ToString(CultureInfo.InvariantCulture);
        var body = new JsonObject
        {
            ["items"] = new JsonArray(page.Select(e => (JsonNode?)e).ToArray()),
            ["paging"] = new JsonObject
            {
                ["first"] = Page(0),
                ["next"] = Page(offset + page.Count),
                ["previous"] = Page(Math.Max(0, offset - limit)),
                ["last"] = Page(Math.Max(0, matching.Count - limit)),
            },
        };
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body.ToJsonString(FakeMailgunEvents.Json)).ConfigureAwait(false);
    }

    /// <summary>Epoch seconds (with a fraction) or an RFC 2822 date; null when absent or unreadable.</summary>
    private static DateTimeOffset? ParseTime(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds))
            return DateTimeOffset.UnixEpoch.AddMilliseconds(Math.Clamp(seconds * 1000, 0, 253402300799000));
        return DateTimeOffset.TryParse(value.Replace(" GMT", " +00:00").Replace(" UTC", " +00:00"), CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal, out var at) ? at : null;
    }
}

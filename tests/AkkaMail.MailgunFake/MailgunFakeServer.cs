using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AkkaMail.Mailgun;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkkaMail.MailgunFake;

/// <summary>A Mailgun-compatible send API on loopback (<c>POST /v3/{domain}/messages</c>) that checks what Mailgun checks,
/// records what it accepts, injects failures and latency, and posts signed webhooks like Mailgun's.</summary>
public sealed partial class MailgunFakeServer : IAsyncDisposable
{
    private readonly MailgunFakeOptions _options;
    private readonly WebApplication _app;
    private readonly HttpClient _webhookHttp;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _gate = new();
    private readonly List<FakeSentMessage> _messages = [];
    private readonly ConcurrentQueue<FakeWebhookDelivery> _webhooks = new();
    private readonly ConcurrentQueue<int> _failureSequence;
    private readonly ConcurrentDictionary<int, Task> _pending = new();
    private readonly Random _random;
    private int _calls, _accepted, _rejected, _sequence, _pendingId;
    private long _latencyTicks;
    private double _failureRate;

    private MailgunFakeServer(MailgunFakeOptions options, WebApplication app)
    {
        _options = options;
        _app = app;
        _latencyTicks = options.Latency.Ticks;
        _failureRate = options.FailureRate;
        _failureSequence = new ConcurrentQueue<int>(options.FailureSequence);
        _random = options.Seed is { } seed ? new Random(seed) : new Random();
        _webhookHttp = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { Timeout = options.WebhookTimeout };
    }

    public static async Task<MailgunFakeServer> StartAsync(MailgunFakeOptions? options = null, CancellationToken ct = default)
    {
        options ??= new MailgunFakeOptions();
        if (options.FailureRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), "FailureRate must be within 0..1.");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(MailgunFakeServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        options.ConfigureLogging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Host), options.Port);
            k.Limits.MaxRequestBodySize = options.MaxMessageSize + 1024 * 1024;
        });
        var app = builder.Build();
        var server = new MailgunFakeServer(options, app);
        app.MapPost("/v3/{domain}/messages", (HttpContext ctx) => server.HandleSendAsync(ctx));
        app.MapGet("/v3/{domain}/events", (HttpContext ctx) => server.HandleEventsAsync(ctx));
        app.MapGet("/healthz", () => Results.Text("ok"));
        await app.StartAsync(ct).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
        return server;
    }

    /// <summary>E.g. http://127.0.0.1:41234 — use as <see cref="MailgunOptions.BaseUrl"/>.</summary>
    public string BaseUrl { get; private set; } = "";
    public MailgunFakeOptions Options => _options;
    public string Domain => _options.Domain;
    public string ApiKey => _options.ApiKey;
    public string WebhookSigningKey => _options.WebhookSigningKey;

    /// <summary>Options for a <see cref="MailgunClient"/> pointed at this fake.</summary>
    public MailgunOptions ClientOptions(TimeSpan? timeout = null) => new()
    {
        BaseUrl = BaseUrl,
        Domain = _options.Domain,
        ApiKey = _options.ApiKey,
        WebhookSigningKey = _options.WebhookSigningKey,
        Timeout = timeout ?? TimeSpan.FromSeconds(30),
    };

    /// <summary>Send calls received (any outcome).</summary>
    public int CallCount => Volatile.Read(ref _calls);
    public int AcceptedCount => Volatile.Read(ref _accepted);
    /// <summary>Send calls answered with an error (auth, validation, injected failure, ...).</summary>
    public int RejectedCount => Volatile.Read(ref _rejected);

    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, Math.Max(0, value.Ticks));
    }

    public double FailureRate
    {
        get => Volatile.Read(ref _failureRate);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1);
            Volatile.Write(ref _failureRate, value);
        }
    }

    private long _outageUntilTicks;

    /// <summary>An outage of the send API from now on for <paramref name="length"/>: every send call answers 503 until then.</summary>
    public void StartOutage(TimeSpan length) =>
        Interlocked.Exchange(ref _outageUntilTicks, (_options.TimeProvider.GetUtcNow() + length).UtcTicks);

    /// <summary>Ends an outage now.</summary>
    public void EndOutage() => Interlocked.Exchange(ref _outageUntilTicks, 0);

    public bool InOutage => Interlocked.Read(ref _outageUntilTicks) > _options.TimeProvider.GetUtcNow().UtcTicks;

    /// <summary>The next calls (after auth and domain checks) answer with these statuses, in order.</summary>
    public void EnqueueFailures(params int[] statuses)
    {
        foreach (var s in statuses) _failureSequence.Enqueue(s);
    }

    /// <summary>A snapshot of the accepted messages, in acceptance order.</summary>
    public IReadOnlyList<FakeSentMessage> Messages
    {
        get { lock (_gate) return _messages.ToArray(); }
    }

    public FakeSentMessage? FindMessage(string messageId)
    {
        var id = MailgunClient.StripAngleBrackets(messageId);
        lock (_gate) return _messages.Find(m => m.MessageId == id);
    }

    /// <summary>Webhooks posted so far (automatic and programmatic).</summary>
    public IReadOnlyList<FakeWebhookDelivery> WebhookDeliveries => _webhooks.ToArray();

    /// <summary>Webhook posts scheduled but not finished.</summary>
    public int PendingWebhooks => _pending.Count;

    /// <summary>Forgets recorded messages, deliveries and counters.</summary>
    public void Reset()
    {
        lock (_gate) _messages.Clear();
        _webhooks.Clear();
        _failureSequence.Clear();
        Interlocked.Exchange(ref _calls, 0);
        Interlocked.Exchange(ref _accepted, 0);
        Interlocked.Exchange(ref _rejected, 0);
    }

    /// <summary>Waits until at least <paramref name="count"/> messages were accepted.</summary>
    public async Task WaitForMessagesAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (AcceptedCount < count)
            await Task.Delay(10, cts.Token).ConfigureAwait(false);
    }

    /// <summary>Waits until every scheduled webhook was posted.</summary>
    public async Task WaitForWebhooksAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!_pending.IsEmpty)
            await Task.Delay(10, cts.Token).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- send API

    private async Task HandleSendAsync(HttpContext ctx)
    {
        Interlocked.Increment(ref _calls);
        var ct = ctx.RequestAborted;
        try
        {
            var latency = Latency;
            if (latency > TimeSpan.Zero) await Task.Delay(latency, _options.TimeProvider, ct).ConfigureAwait(false);

            if (!IsAuthorized(ctx.Request))
            {
                await RejectAsync(ctx, 401, "Forbidden", json: false).ConfigureAwait(false);
                return;
            }
            var domain = (string)ctx.Request.RouteValues["domain"]!;
            if (!string.Equals(domain, _options.Domain, StringComparison.OrdinalIgnoreCase))
            {
                await RejectAsync(ctx, 404, $"Domain not found: {domain}").ConfigureAwait(false);
                return;
            }
            if (InOutage)
            {
                await RejectAsync(ctx, 503, "Service Unavailable").ConfigureAwait(false);
                return;
            }
            if (NextInjectedFailure() is { } injected)
            {
                await InjectedFailureAsync(ctx, injected).ConfigureAwait(false);
                return;
            }
            if (ctx.Request.ContentLength > _options.MaxMessageSize)
            {
                await RejectAsync(ctx, 413, "Request entity too large: the message exceeds the 25 MB limit").ConfigureAwait(false);
                return;
            }
            if (!ctx.Request.HasFormContentType)
            {
                await RejectAsync(ctx, 400, "'from' parameter is missing").ConfigureAwait(false);
                return;
            }

            ReceivedForm form;
            try
            {
                form = await FakeFormReader.ReadAsync(ctx.Request, _options.MaxMessageSize, ct).ConfigureAwait(false);
            }
            // A body that ends before its closing boundary is malformed (400) too, unless the client went away.
            catch (Exception e) when (e is InvalidDataException || e is BadHttpRequestException { StatusCode: 413 }
                                      || (e is IOException && !ct.IsCancellationRequested))
            {
                var tooLarge = e is BadHttpRequestException { StatusCode: 413 }
                               || (e is InvalidDataException && e.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase));
                await RejectAsync(ctx, tooLarge ? 413 : 400, tooLarge ? "Request entity too large: the message exceeds the 25 MB limit" : "Invalid form data: " + e.Message).ConfigureAwait(false);
                return;
            }

            var (message, error) = ReadMessage(ctx.Request, form);
            if (message is null)
            {
                await RejectAsync(ctx, 400, error!).ConfigureAwait(false);
                return;
            }

            if (_options.RecordMessages)
                lock (_gate) _messages.Add(message);
            Interlocked.Increment(ref _accepted);
            var accepted = RecordAccepted(message);
            // What becomes of each recipient happens (and is in the events log) whether webhooks are posted or not.
            if (message.Recipients.Any(r => EventsFor(r).Count > 0))
                ScheduleOutcomes(message, accepted, _options.WebhookUrl);
            if (RollAcceptThenDrop())
            {
                // Accepted, then the answer never arrives: the connection is dropped, as after a timeout.
                Interlocked.Increment(ref _droppedAfterAccept);
                ctx.Abort();
                return;
            }

            await WriteJsonAsync(ctx, 200, $"<{message.MessageId}>", "Queued. Thank you.").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the client gave up (e.g. its timeout elapsed during our latency)
        }
    }

    private bool IsAuthorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = decoded.IndexOf(':');
            if (colon < 0) return false;
            var user = decoded[..colon];
            var expected = Encoding.UTF8.GetBytes(_options.ApiKey);
            var given = Encoding.UTF8.GetBytes(decoded[(colon + 1)..]);
            return user == "api" && CryptographicOperations.FixedTimeEquals(expected, given);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private int? NextInjectedFailure()
    {
        if (_failureSequence.TryDequeue(out var status)) return status;
        var rate = FailureRate;
        if (rate <= 0) return null;
        double roll, kind;
        lock (_random)
        {
            roll = _random.NextDouble();
            kind = _random.NextDouble();
        }
        if (roll >= rate) return null;
        return kind < 0.5 ? 429 : kind < 0.75 ? 500 : 503;
    }

    private Task InjectedFailureAsync(HttpContext ctx, int status)
    {
        switch (status)
        {
            case 429:
            case 420:
            {
                var wait = _options.RateLimitRetryAfter;
                var until = _options.TimeProvider.GetUtcNow() + wait;
                if (_options.RateLimitHeaders)
                {
                    ctx.Response.Headers.RetryAfter = Math.Max(0, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                    ctx.Response.Headers["X-RateLimit-Limit"] = "100";
                    ctx.Response.Headers["X-RateLimit-Remaining"] = "0";
                    ctx.Response.Headers["X-RateLimit-Reset"] = until.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
                }
                var date = until.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
                var text = status == 429
                    ? $"Too many requests: rate limit exceeded, try again after {date}"
                    : $"Domain {_options.Domain} is not allowed to send: recipient limit exceeded, try again after {date}";
                return RejectAsync(ctx, status, text);
            }
            case 401:
                return RejectAsync(ctx, 401, "Forbidden", json: false);
            case 503:
                return RejectAsync(ctx, 503, "Service Unavailable", json: false);
            case 500:
                return RejectAsync(ctx, 500, "Internal Server Error");
            default:
                return RejectAsync(ctx, status, status switch
                {
                    400 => "Bad Request (injected)",
                    402 => "Payment Required",
                    403 => "Forbidden",
                    404 => "Not Found",
                    413 => "Request entity too large",
                    502 => "Bad Gateway",
                    504 => "Gateway Timeout",
                    _ => ((HttpStatusCode)status).ToString(),
                });
        }
    }

    private async Task RejectAsync(HttpContext ctx, int status, string message, bool json = true)
    {
        Interlocked.Increment(ref _rejected);
        if (json)
            await WriteJsonAsync(ctx, status, id: null, message).ConfigureAwait(false);
        else
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync(message, ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private static readonly JsonWriterOptions ResponseJson = new() { Encoder = FakeMailgunEvents.Json.Encoder };

    /// <summary>Mailgun's answer, <c>{"id": ..., "message": ...}</c> (no id on errors), written straight into the
    /// response: building a JsonObject tree and a string for two properties showed up in the fake's CPU.</summary>
    private static async Task WriteJsonAsync(HttpContext ctx, int status, string? id, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(ctx.Response.BodyWriter, ResponseJson))
        {
            json.WriteStartObject();
            if (id is not null) json.WriteString("id", id);
            json.WriteString("message", message);
            json.WriteEndObject();
        }
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
    }

    private (FakeSentMessage? Message, string? Error) ReadMessage(HttpRequest request, ReceivedForm form)
    {
        string? One(string name) => form.Fields.TryGetValue(name, out var v) && v.Count > 0 ? v[^1] : null;
        List<string> Addresses(string name)
        {
            var list = new List<string>();
            if (form.Fields.TryGetValue(name, out var values))
                foreach (var v in values)
                    list.AddRange(FakeAddress.SplitList(v));
            return list;
        }

        var from = One("from");
        if (string.IsNullOrWhiteSpace(from)) return (null, "'from' parameter is missing");
        if (FakeAddress.Bare(from) is null) return (null, "'from' parameter is not a valid address. please check documentation");
        var to = Addresses("to");
        if (to.Count == 0) return (null, "'to' parameter is missing");
        var cc = Addresses("cc");
        var bcc = Addresses("bcc");
        foreach (var (name, list) in new[] { ("to", to), ("cc", cc), ("bcc", bcc) })
            if (list.Any(a => FakeAddress.Bare(a) is null))
                return (null, $"'{name}' parameter is not a valid address. please check documentation");
        var recipients = to.Count + cc.Count + bcc.Count;
        if (recipients > _options.MaxRecipients)
            return (null, $"Too many recipients: {recipients}. Maximum allowed is {_options.MaxRecipients} per message");
        var subject = One("subject");
        if (_options.RequireSubject && string.IsNullOrEmpty(subject)) return (null, "'subject' parameter is missing");
        string? text = One("text"), html = One("html"), amp = One("amp-html"), template = One("template");
        if (string.IsNullOrEmpty(text) && string.IsNullOrEmpty(html) && string.IsNullOrEmpty(amp) && string.IsNullOrEmpty(template))
            return (null, "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified");

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        var opts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var tags = new List<string>();
        var fields = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (key, all) in form.Fields)
        {
            fields[key] = all;
            if (key.StartsWith("h:", StringComparison.Ordinal)) headers[key[2..]] = all[^1];
            else if (key.StartsWith("v:", StringComparison.Ordinal)) variables[key[2..]] = all[^1];
            else if (key == "o:tag") tags.AddRange(all);
            else if (key.StartsWith("o:", StringComparison.Ordinal)) opts[key[2..]] = all[^1];
        }
        if (headers.TryGetValue("X-Mailgun-Variables", out var json)) MergeJsonVariables(json, variables);
        Dictionary<string, IReadOnlyDictionary<string, string>>? recipientVariables = null;
        if (One("recipient-variables") is { } rv)
        {
            recipientVariables = ReadRecipientVariables(rv);
            if (recipientVariables is null) return (null, "recipient-variables parameter is not a valid JSON");
        }

        var attachments = new List<FakeAttachment>();
        var inline = new List<FakeAttachment>();
        foreach (var (name, file) in form.Files)
            (name == "inline" ? inline : attachments).Add(file);

        var now = _options.TimeProvider.GetUtcNow();
        var seq = Interlocked.Increment(ref _sequence);
        int salt;
        lock (_random) salt = _random.Next(1000, 99999);
        var id = $"{now.UtcDateTime:yyyyMMddHHmmss}.{seq}.{salt}@{_options.Domain}";
        return (new FakeSentMessage
        {
            MessageId = id,
            ReceivedAt = now,
            From = from,
            To = to,
            Cc = cc,
            Bcc = bcc,
            Subject = subject,
            Text = text,
            Html = html,
            Template = template,
            Tags = tags,
            Headers = headers,
            Variables = variables,
            Options = opts,
            Attachments = attachments,
            Inline = inline,
            Fields = fields,
            ContentType = request.ContentType?.Split(';')[0].Trim() ?? "",
            Size = request.ContentLength ?? 0,
            Recipients = to.Concat(cc).Concat(bcc).Select(a => FakeAddress.Bare(a)!).Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
            RecipientVariables = recipientVariables,
        }, null);
    }

    /// <summary>recipient-variables: a JSON object of address → object of values (a non-string value as its JSON text);
    /// null when it is not (Mailgun answers 400).</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, string>>? ReadRecipientVariables(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            var all = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.OrdinalIgnoreCase);
            foreach (var recipient in doc.RootElement.EnumerateObject())
            {
                if (recipient.Value.ValueKind != JsonValueKind.Object) return null;
                all[(FakeAddress.Bare(recipient.Name) ?? recipient.Name).ToLowerInvariant()] = recipient.Value.EnumerateObject()
                    .ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
            }
            return all;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void MergeJsonVariables(string json, Dictionary<string, string> variables)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return;
            foreach (var p in doc.RootElement.EnumerateObject())
                variables.TryAdd(p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
        }
        catch (JsonException)
        {
            // Mailgun ignores an unparsable X-Mailgun-Variables
        }
    }

    // ---------------------------------------------------------------- webhooks

    /// <summary>The events that happen to <paramref name="recipient"/> after acceptance.</summary>
    private IReadOnlyList<FakeWebhookEvent> EventsFor(string recipient) => _options.EventsFor?.Invoke(recipient) ?? _options.WebhookEvents;

    /// <summary>Each recipient's events, in order: each is put in the events log and, with a <paramref name="url"/>, posted
    /// as a webhook carrying the same event (same id). An <c>accepted</c> event is the one logged at acceptance.</summary>
    private void ScheduleOutcomes(FakeSentMessage message, IReadOnlyDictionary<string, JsonObject> accepted, string? url)
    {
        var key = Interlocked.Increment(ref _pendingId);
        var task = Task.Run(async () =>
        {
            try
            {
                foreach (var recipient in message.Recipients)
                {
                    foreach (var evt in EventsFor(recipient))
                    {
                        if (_options.WebhookDelay > TimeSpan.Zero)
                            await Task.Delay(_options.WebhookDelay, _options.TimeProvider, _shutdown.Token).ConfigureAwait(false);
                        var data = evt.EventType == "accepted" && accepted.TryGetValue(recipient, out var logged)
                            ? logged
                            : RecordEvent(message, recipient, evt);
                        if (url is not null)
                            await PostEventAsync(data, message, recipient, url, evt.EventType == "delivered", _shutdown.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // shutting down
            }
            finally
            {
                _pending.TryRemove(key, out _);
            }
        });
        _pending.TryAdd(key, task);
        if (task.IsCompleted) _pending.TryRemove(key, out _);
    }

    /// <summary>Posts a signed event for an accepted message (e.g. a permanent failure or a complaint) to
    /// <paramref name="url"/> (default: <see cref="MailgunFakeOptions.WebhookUrl"/>), and records the delivery. The event
    /// goes into the events log too, with the id the webhook carries.</summary>
    public Task<FakeWebhookDelivery> PostWebhookAsync(FakeSentMessage message, string recipient, FakeWebhookEvent evt, string? url = null, CancellationToken ct = default)
    {
        url ??= _options.WebhookUrl ?? throw new InvalidOperationException("No webhook URL: set MailgunFakeOptions.WebhookUrl or pass one.");
        return PostEventAsync(RecordEvent(message, recipient, evt), message, recipient, url, evt.EventType == "delivered", ct);
    }

    /// <summary>Posts every event of the events log (oldest first) as a signed webhook to <paramref name="url"/>, each with
    /// its own id and a fresh token and signature: webhooks arriving late, after the events API was read.</summary>
    public async Task<IReadOnlyList<FakeWebhookDelivery>> PostLoggedEventsAsync(string url, CancellationToken ct = default)
    {
        List<(JsonObject Data, string MessageId, string Recipient)> logged;
        lock (_gate)
            logged = _events.OrderBy(e => e.At)
                .Select(e => ((JsonObject)e.Data.DeepClone(), (string)e.Data["message"]!["headers"]!["message-id"]!, (string)e.Data["recipient"]!))
                .ToList();
        var deliveries = new List<FakeWebhookDelivery>();
        foreach (var (data, messageId, recipient) in logged)
        {
            var message = FindMessage(messageId) ?? throw new InvalidOperationException($"No accepted message {messageId}.");
            deliveries.Add(await PostEventAsync(data, message, recipient, url, (string?)data["event"] == "delivered", ct).ConfigureAwait(false));
        }
        return deliveries;
    }

    /// <summary>Posts <paramref name="data"/> as a signed webhook (Mailgun retries anything but 200 and 406, never a
    /// <c>delivered</c>), and records the delivery.</summary>
    private async Task<FakeWebhookDelivery> PostEventAsync(JsonObject data, FakeSentMessage message, string recipient, string url, bool delivered,
        CancellationToken ct)
    {
        var body = FakeMailgunEvents.SignWebhook(data, _options.WebhookSigningKey, _options.TimeProvider.GetUtcNow());
        var eventId = (string)data["id"]!;
        var eventType = (string)data["event"]!;
        var maxAttempts = delivered ? 1 : Math.Max(1, _options.WebhookMaxAttempts);
        int? status = null;
        string? error = null;
        var attempts = 0;
        while (attempts < maxAttempts)
        {
            attempts++;
            if (attempts > 1) await Task.Delay(_options.WebhookRetryDelay, _options.TimeProvider, ct).ConfigureAwait(false);
            try
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var response = await _webhookHttp.PostAsync(url, content, ct).ConfigureAwait(false);
                status = (int)response.StatusCode;
                error = null;
                if (status is 200 or 406) break;
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
            {
                status = null;
                error = e.Message;
            }
        }
        var delivery = new FakeWebhookDelivery(url, eventType, recipient, message.MessageId, eventId, attempts, status, error, body);
        _webhooks.Enqueue(delivery);
        return delivery;
    }

    /// <summary>Same, finding the message by id (with or without angle brackets).</summary>
    public Task<FakeWebhookDelivery> PostWebhookAsync(string messageId, string recipient, FakeWebhookEvent evt, string? url = null, CancellationToken ct = default) =>
        PostWebhookAsync(FindMessage(messageId) ?? throw new ArgumentException($"No accepted message {messageId}.", nameof(messageId)), recipient, evt, url, ct);

    /// <summary>The signed JSON body Mailgun would post for <paramref name="evt"/>, signed with this fake's key and clock.</summary>
    public (byte[] Body, string EventId) BuildWebhookBody(FakeSentMessage message, string recipient, FakeWebhookEvent evt) =>
        FakeMailgunEvents.BuildWebhook(message, recipient, evt, _options.WebhookSigningKey, _options.TimeProvider.GetUtcNow());

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_pending.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // best effort: webhooks in flight are abandoned
        }
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _webhookHttp.Dispose();
        _shutdown.Dispose();
    }
}

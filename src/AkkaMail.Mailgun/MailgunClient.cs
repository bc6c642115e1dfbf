using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AkkaMail.Mailgun;

/// <summary>Mailgun's send API (<c>POST {base}/v3/{domain}/messages</c>). A typed HttpClient: register it with
/// <see cref="MailgunServiceCollectionExtensions.AddMailgunClient(IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration, string)"/>.
/// Never throws for HTTP or network failures; throws only for programming errors (invalid message or options)
/// and <see cref="OperationCanceledException"/> when the caller's token is cancelled.</summary>
public sealed partial class MailgunClient
{
    private const int MaxResponseBytes = 64 * 1024;
    private readonly HttpClient _http;
    private readonly MailgunOptions _options;
    private readonly TimeProvider _clock;
    private readonly Uri _endpoint;
    private readonly Uri _events;
    private readonly AuthenticationHeaderValue _auth;

    [ActivatorUtilitiesConstructor]
    public MailgunClient(HttpClient http, IOptions<MailgunOptions> options, TimeProvider? clock = null)
        : this(http, options.Value, clock) { }

    public MailgunClient(HttpClient http, MailgunOptions options, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(options));
        _http = http;
        _options = options;
        _clock = clock ?? TimeProvider.System;
        _endpoint = new Uri($"{options.BaseUrl.TrimEnd('/')}/v3/{Uri.EscapeDataString(options.Domain)}/messages");
        _events = new Uri($"{options.BaseUrl.TrimEnd('/')}/v3/{Uri.EscapeDataString(options.Domain)}/events");
        _auth = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + options.ApiKey)));
    }

    /// <summary>The URL messages are posted to.</summary>
    public Uri Endpoint => _endpoint;

    public async Task<MailgunSendResult> SendAsync(MailgunMessage message, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Tags.Count > MailgunMessage.MaxTags)
            throw new ArgumentException($"Mailgun accepts at most {MailgunMessage.MaxTags} tags, got {message.Tags.Count}.", nameof(message));
        if (message.RecipientCount > MailgunMessage.MaxRecipients)
            throw new ArgumentException($"Mailgun accepts at most {MailgunMessage.MaxRecipients} recipients per call, got {message.RecipientCount}.", nameof(message));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var content = BuildContent(message);
            using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = content };
            request.Headers.Authorization = _auth;
            request.Headers.TryAddWithoutValidation("Accept", "application/json");
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var body = await ReadBodyAsync(response, timeout.Token).ConfigureAwait(false);
            return Classify(response, body);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return new MailgunSendResult.TransientFailure(null, $"Timed out after {_options.Timeout.TotalSeconds:0.###} s", null);
        }
        catch (HttpRequestException e)
        {
            return new MailgunSendResult.TransientFailure(e.StatusCode is { } s ? (int)s : null, "Connection failure: " + e.Message, null);
        }
        catch (IOException e)
        {
            return new MailgunSendResult.TransientFailure(null, "I/O failure: " + e.Message, null);
        }
    }

    /// <summary>
    /// The first event of type <paramref name="eventType"/> (e.g. <c>accepted</c>) since <paramref name="begin"/> whose
    /// message carried the user variable <paramref name="variable"/> = <paramref name="value"/> (a <c>v:</c> field), through
    /// the events API (<c>GET {base}/v3/{domain}/events</c>, filtered by <c>user-variables</c>, oldest first). Never throws
    /// for HTTP or network failures: <see cref="MailgunEventLookup.Failed"/>.
    /// </summary>
    public async Task<MailgunEventLookup> FindEventAsync(string eventType, string variable, string value, DateTimeOffset begin,
        CancellationToken ct = default)
    {
        var filter = JsonSerializer.Serialize(new Dictionary<string, string> { [variable] = value });
        var url = new Uri($"{_events}?event={Uri.EscapeDataString(eventType)}&user-variables={Uri.EscapeDataString(filter)}" +
                          $"&begin={begin.ToUnixTimeSeconds()}&ascending=yes&limit=10");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Authorization = _auth;
            request.Headers.TryAddWithoutValidation("Accept", "application/json");
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var body = await ReadBodyAsync(response, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                return new MailgunEventLookup.Failed((int)response.StatusCode, Truncate(body.Trim(), 500));
            return ParseFirstEvent(body);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return new MailgunEventLookup.Failed(null, $"Timed out after {_options.Timeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new MailgunEventLookup.Failed(null, "Connection failure: " + e.Message);
        }
    }

    /// <summary>At most this many pages are read for one search (300 events each).</summary>
    public const int MaxEventPages = 20;

    /// <summary>
    /// Every event since <paramref name="begin"/> whose message carried the user variable <paramref name="variable"/> =
    /// <paramref name="value"/>, oldest first, through the events API (<c>user-variables</c> filter, <c>ascending=yes</c>,
    /// 300 a page), following <c>paging.next</c> until an empty page (only links to this domain's events are followed).
    /// A 420 or 429 answers <see cref="MailgunEventSearch.Failed"/> with the wait Mailgun asks for. Never throws for HTTP
    /// or network failures.
    /// </summary>
    public async Task<MailgunEventSearch> FindEventsAsync(string variable, string value, DateTimeOffset begin, CancellationToken ct = default)
    {
        var filter = JsonSerializer.Serialize(new Dictionary<string, string> { [variable] = value });
        var url = new Uri($"{_events}?user-variables={Uri.EscapeDataString(filter)}&begin={begin.ToUnixTimeSeconds()}&ascending=yes&limit=300");
        var events = new List<MailgunEvent>();
        var unreadable = 0;
        for (var page = 0; page < MaxEventPages; page++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.Timeout);
            string body;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Authorization = _auth;
                request.Headers.TryAddWithoutValidation("Accept", "application/json");
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                body = await ReadBodyAsync(response, timeout.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    var status = (int)response.StatusCode;
                    var reason = ParseBody(body).Message is { Length: > 0 } m ? m : Truncate(body.Trim(), 500);
                    return new MailgunEventSearch.Failed(status, reason, status is 420 or 429 ? RetryAfter(response, reason) : null);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException)
            {
                return new MailgunEventSearch.Failed(null, $"Timed out after {_options.Timeout.TotalSeconds:0.###} s");
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                return new MailgunEventSearch.Failed(null, "Connection failure: " + e.Message);
            }
            switch (ParseEventsPage(body, _events))
            {
                case (null, _, _, var error):
                    return new MailgunEventSearch.Failed(null, error!);
                case ({ Count: 0 }, _, _, _):
                    return new MailgunEventSearch.Found(events, unreadable);
                case (var items, var skipped, var next, _):
                    events.AddRange(items);
                    unreadable += skipped;
                    if (next is null) return new MailgunEventSearch.Found(events, unreadable);
                    url = next;
                    break;
            }
        }
        return new MailgunEventSearch.Failed(null, $"more than {MaxEventPages} pages of events");
    }

    /// <summary>One events page: its readable events, how many items were not, and the next page's link when it is one of
    /// <paramref name="eventsUrl"/>'s (else null); or an error when the page is not an events page.</summary>
    public static (IReadOnlyList<MailgunEvent>? Events, int Unreadable, Uri? Next, string? Error) ParseEventsPage(string body, Uri eventsUrl)
    {
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
                return (null, 0, null, "the events page has no items");
            var events = new List<MailgunEvent>();
            var unreadable = 0;
            foreach (var item in items.EnumerateArray())
            {
                if (MailgunWebhookParser.ParseEventData(item.GetRawText()) is MailgunEventParseResult.Success s) events.Add(s.Event);
                else unreadable++;
            }
            Uri? next = null;
            if (doc.RootElement.TryGetProperty("paging", out var paging) && paging.ValueKind == JsonValueKind.Object
                && paging.TryGetProperty("next", out var n) && n.ValueKind == JsonValueKind.String
                && Uri.TryCreate(n.GetString(), UriKind.Absolute, out var link)
                && IsEventsPage(link, eventsUrl))
                next = link;
            return (events, unreadable, next, null);
        }
        catch (JsonException e)
        {
            return (null, 0, null, "the events page is not JSON: " + e.Message);
        }
    }

    /// <summary>Whether <paramref name="link"/> is a page of the domain's events: the same origin, and its path the events
    /// path or below it (Mailgun's next pages are <c>/v3/{domain}/events/{token}</c>). Others are never followed: the
    /// request carries the API key.</summary>
    private static bool IsEventsPage(Uri link, Uri eventsUrl)
    {
        if (!string.Equals(link.GetLeftPart(UriPartial.Authority), eventsUrl.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase))
            return false;
        var events = eventsUrl.AbsolutePath.TrimEnd('/');
        return link.AbsolutePath.Equals(events, StringComparison.OrdinalIgnoreCase)
               || link.AbsolutePath.StartsWith(events + "/", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The first item of an events page: its id, its message's id and its time.</summary>
    public static MailgunEventLookup ParseFirstEvent(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            if (!doc.RootElement.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
                return new MailgunEventLookup.Failed(null, "the events page has no items");
            foreach (var item in items.EnumerateArray())
            {
                var messageId = item.TryGetProperty("message", out var m) && m.TryGetProperty("headers", out var h)
                                && h.TryGetProperty("message-id", out var mid) && mid.ValueKind == JsonValueKind.String
                    ? mid.GetString() : null;
                if (string.IsNullOrWhiteSpace(messageId)) continue;
                var id = item.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
                var at = item.TryGetProperty("timestamp", out var ts) && ts.TryGetDouble(out var seconds) && double.IsFinite(seconds)
                    ? DateTimeOffset.UnixEpoch.AddMilliseconds(Math.Clamp(seconds * 1000, 0, 253402300799000))
                    : DateTimeOffset.UnixEpoch;
                return new MailgunEventLookup.Found(id, StripAngleBrackets(messageId), at);
            }
            return new MailgunEventLookup.NotFound();
        }
        catch (JsonException e)
        {
            return new MailgunEventLookup.Failed(null, "the events page is not JSON: " + e.Message);
        }
    }

    /// <summary>
    /// The multipart/form-data body Mailgun expects, one part per field in the documented order (exposed for tests
    /// and diagnostics). Part headers are UTF-8, as browsers and curl send them (RFC 7578). Names and filenames are
    /// quoted-strings escaped as browsers do: <c>"</c>, CR and LF become <c>%22</c>, <c>%0D</c>, <c>%0A</c>, so no
    /// caller's string can end the quoted-string or start a header line; <c>\</c> is sent as the quoted-pair
    /// <c>\\</c>, so that parsers honouring quoted-pairs still find the closing quote. Text parts carry no
    /// Content-Type (text/plain is the form-data default); an attachment's media type is sent only if it parses,
    /// else application/octet-stream.
    /// </summary>
    public static MultipartFormDataContent BuildContent(MailgunMessage m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var form = new MultipartFormDataContent { HeaderEncodingSelector = static (_, _) => Encoding.UTF8 };
        void Field(string name, string value) => form.Add(FormPart(new ByteArrayContent(Encoding.UTF8.GetBytes(value)), name, null));

        Field("from", m.From);
        foreach (var a in m.To) Field("to", a);
        foreach (var a in m.Cc) Field("cc", a);
        foreach (var a in m.Bcc) Field("bcc", a);
        if (m.Subject is not null) Field("subject", m.Subject);
        if (m.Text is not null) Field("text", m.Text);
        if (m.Html is not null) Field("html", m.Html);
        if (!string.IsNullOrEmpty(m.ReplyTo)) Field("h:Reply-To", m.ReplyTo);
        foreach (var (name, value) in m.Headers) Field("h:" + name, value);
        foreach (var (name, value) in m.Variables) Field("v:" + name, value);
        foreach (var tag in m.Tags) Field("o:tag", tag);
        if (m.RecipientVariables is not null) Field("recipient-variables", System.Text.Json.JsonSerializer.Serialize(m.RecipientVariables));
        if (m.TestMode) Field("o:testmode", "yes");
        if (m.Tracking is { } t)
        {
            if (t.Enabled is { } e) Field("o:tracking", YesNo(e));
            if (t.Clicks is { } c) Field("o:tracking-clicks", c switch { MailgunClickTracking.Yes => "yes", MailgunClickTracking.HtmlOnly => "htmlonly", _ => "no" });
            if (t.Opens is { } o) Field("o:tracking-opens", YesNo(o));
        }
        if (m.DeliveryTime is { } when) Field("o:deliverytime", ToRfc2822(when));
        foreach (var attachment in m.Attachments)
        {
            var part = new ByteArrayContent(attachment.Content);
            part.Headers.ContentType = MediaTypeHeaderValue.TryParse(attachment.ContentType, out var type)
                ? type
                : new MediaTypeHeaderValue("application/octet-stream");
            form.Add(FormPart(part, "attachment", attachment.FileName));
        }
        return form;
    }

    private static HttpContent FormPart(HttpContent part, string name, string? fileName)
    {
        var disposition = new ContentDispositionHeaderValue("form-data");
        disposition.Parameters.Add(new NameValueHeaderValue("name", QuotedFormName(name)));
        if (fileName is not null) disposition.Parameters.Add(new NameValueHeaderValue("filename", QuotedFormName(fileName)));
        part.Headers.ContentDisposition = disposition;
        return part;
    }

    /// <summary>A form-data name or filename as a quoted-string, escaped as browsers do (see <see cref="BuildContent"/>).</summary>
    private static string QuotedFormName(string value)
    {
        var escaped = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => escaped.Append("%22"),
                '\r' => escaped.Append("%0D"),
                '\n' => escaped.Append("%0A"),
                '\\' => escaped.Append(@"\\"),
                _ => escaped.Append(c),
            };
        }
        return escaped.Append('"').ToString();
    }

    private static string YesNo(bool b) => b ? "yes" : "no";

    /// <summary>RFC 2822 date in UTC, e.g. <c>Fri, 14 Oct 2011 23:10:10 +0000</c>.</summary>
    public static string ToRfc2822(DateTimeOffset when) =>
        when.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss", CultureInfo.InvariantCulture) + " +0000";

    private static async Task<string> ReadBodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        // At most MaxResponseBytes of the body are read, into a pooled buffer given back before this returns.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(MaxResponseBytes);
        try
        {
            int total = 0, read;
            while (total < MaxResponseBytes
                   && (read = await stream.ReadAsync(buffer.AsMemory(total, MaxResponseBytes - total), ct).ConfigureAwait(false)) > 0)
                total += read;
            return Encoding.UTF8.GetString(buffer, 0, total);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private MailgunSendResult Classify(HttpResponseMessage response, string body)
    {
        var status = (int)response.StatusCode;
        var (id, message) = ParseBody(body);
        if (status is >= 200 and < 300)
            return new MailgunSendResult.Accepted(StripAngleBrackets(id ?? ""));

        var reason = !string.IsNullOrWhiteSpace(message) ? message!
            : !string.IsNullOrWhiteSpace(body) ? Truncate(body.Trim(), 500)
            : response.ReasonPhrase ?? ((HttpStatusCode)status).ToString();

        if (IsTransient(status))
            return new MailgunSendResult.TransientFailure(status, reason, RetryAfter(response, reason));
        return new MailgunSendResult.PermanentFailure(status, reason);
    }

    /// <summary>429 (rate limited), 420 (Mailgun's sending-limit answer), 408 and every 5xx are worth retrying.</summary>
    public static bool IsTransient(int status) => status is 408 or 420 or 429 or >= 500;

    private static (string? Id, string? Message) ParseBody(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return (null, null);
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return (null, null);
            string? Str(string name) => doc.RootElement.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            return (Str("id"), Str("message"));
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    public static string StripAngleBrackets(string id)
    {
        var s = id.Trim();
        if (s.Length >= 2 && s[0] == '<' && s[^1] == '>') s = s[1..^1];
        return s;
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";

    /// <summary>The wait Mailgun asks for: Retry-After (seconds or HTTP date), X-RateLimit-Reset (epoch seconds or
    /// milliseconds, or seconds to wait), or the "try again after &lt;date&gt;" text of the message. Null when none.</summary>
    internal TimeSpan? RetryAfter(HttpResponseMessage response, string reason)
    {
        var now = _clock.GetUtcNow();
        if (response.Headers.RetryAfter is { } ra)
        {
            if (ra.Delta is { } d) return Clamp(d);
            if (ra.Date is { } date) return Clamp(date - now);
        }
        var resetHeader = response.Headers.TryGetValues("X-RateLimit-Reset", out var values) ? string.Join(",", values).Trim() : null;
        if (double.TryParse(resetHeader, NumberStyles.Float, CultureInfo.InvariantCulture, out var reset)
            && double.IsFinite(reset) && reset >= 0)
        {
            if (reset > 1e12) return Clamp(DateTimeOffset.UnixEpoch.AddMilliseconds(Math.Min(reset, 253402300799000)) - now);
            if (reset > 1e9) return Clamp(DateTimeOffset.UnixEpoch.AddSeconds(Math.Min(reset, 253402300799)) - now);
            return Clamp(TimeSpan.FromSeconds(Math.Min(reset, 86400)));
        }
        if (resetHeader is { Length: > 0 }
            && DateTimeOffset.TryParse(resetHeader, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var resetAt))
            return Clamp(resetAt - now);
        return ParseTryAgainAfter(reason, now);
    }

    /// <summary>Parses "... try again after Mon, 25 Aug 2025 07:00:31 UTC" into the wait from <paramref name="now"/>.</summary>
    public static TimeSpan? ParseTryAgainAfter(string? text, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(text)) return null;
        var match = TryAgainAfter().Match(text);
        if (!match.Success) return null;
        var raw = match.Groups[1].Value.Trim().TrimEnd('.', ')', '"', '\'', ' ');
        raw = Regex.Replace(raw, @"\s+(UTC|GMT|Z)$", " +00:00", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        if (DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var at))
            return Clamp(at - now);
        return null;
    }

    private static TimeSpan Clamp(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : t;

    [GeneratedRegex(@"try again after\s+([^\r\n]{1,80})", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 100)]
    private static partial Regex TryAgainAfter();
}

using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// POSTs one signed webhook. Redirects are not followed (a 3xx is an answer like any other); the socket connects only
/// to addresses <see cref="WebhookAddressGuard"/> allows, resolved here, after DNS; at most
/// <c>responseBodyLimit</c> bytes of the answer are read; each attempt has its own timeout.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private readonly HttpClient _http;
    private readonly int _responseBodyLimit;

    public WebhookSender(WebhookAddressGuard guard, int responseBodyLimit)
    {
        _responseBodyLimit = responseBodyLimit;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ConnectCallback = async (context, ct) =>
            {
                var host = context.DnsEndPoint.Host;
                var resolved = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
                var allowed = resolved.Where(guard.Allows).ToArray();
                if (allowed.Length == 0 || allowed.Length != resolved.Length) throw new WebhookAddressRefusedException(host);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("AkkaMail-Webhooks/1.0");
    }

    /// <param name="secrets">The secrets that sign now, in clear (never logged).</param>
    public async Task<WebhookAttemptResult> PostAsync(string url, string id, DateTimeOffset timestamp, string body,
        IReadOnlyList<string> secrets, TimeSpan timeout, CancellationToken ct = default)
    {
        var unix = timestamp.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation(StandardWebhooks.IdHeader, id);
        request.Headers.TryAddWithoutValidation(StandardWebhooks.TimestampHeader, unix.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(StandardWebhooks.SignatureHeader, StandardWebhooks.SignatureHeaderValue(secrets, id, unix, body));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            var answer = await ReadCappedAsync(response.Content, cts.Token);
            return new WebhookAttemptResult.Answered((int)response.StatusCode, answer, RetryAfter(response, timestamp));
        }
        catch (HttpRequestException e) when (Refusal(e) is { } refused)
        {
            return new WebhookAttemptResult.Refused(refused.Message);
        }
        catch (HttpRequestException e)
        {
            return new WebhookAttemptResult.NoAnswer(e.HttpRequestError is var kind and not HttpRequestError.Unknown ? $"{kind}: {e.Message}" : e.Message);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new WebhookAttemptResult.NoAnswer($"no answer within {timeout.TotalSeconds:0.###} s");
        }
        catch (IOException e)
        {
            return new WebhookAttemptResult.NoAnswer(e.Message);
        }
    }

    private static WebhookAddressRefusedException? Refusal(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is WebhookAddressRefusedException r) return r;
        return null;
    }

    private async Task<string?> ReadCappedAsync(HttpContent content, CancellationToken ct)
    {
        if (_responseBodyLimit <= 0) return null;
        await using var stream = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[_responseBodyLimit];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), ct)) > 0) read += n;
        return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read);
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
        _ => null,
    };

    public void Dispose() => _http.Dispose();
}

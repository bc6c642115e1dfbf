using System.Text;
using System.Text.Json;
using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;
using AkkaMail.ReadModel;
using Microsoft.AspNetCore.Http.Features;
using AkkaMail.Api.Infrastructure;

namespace AkkaMail.Api.Realtime;

/// <summary>
/// <c>GET /api/emails/stream[?id=]</c>: server-sent events for clients that do not speak SignalR. The same
/// <c>emailStatus</c> messages as the hub, for the caller's emails or one email (the caller's; any, for an admin),
/// a comment line every <see cref="HeartbeatInterval"/> so that proxies keep the connection open. Each event's
/// <c>id</c> is <c>{emailId}:{version}</c>; after a reconnect, GET /api/emails/{id} tells what was missed.
/// Revoking the stream's key ends it at once (<see cref="KeyConnections"/>): the response completes.
/// Written here rather than with <c>TypedResults.ServerSentEvents</c>: its formatter (.NET 10) writes events only, and the
/// heartbeat must be a comment line, which an EventSource client never surfaces, and the <c>retry</c> field must come
/// before any event (dotnet/aspnetcore#65103).
/// </summary>
public static class EmailStatusStream
{
    public const string Path = "/api/emails/stream";
    public static TimeSpan HeartbeatInterval { get; internal set; } = TimeSpan.FromSeconds(15);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<IResult> StreamAsync(HttpContext http, EmailAccess emails, EmailStatusFeed feed, KeyConnections keys,
        string? id = null)
    {
        if (id is not null && await emails.FindAsync(http.User, id, http.RequestAborted) is null) return Problems.NotFound("email", id);

        // Ends when the client goes, or when the key that opened the stream is revoked.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var ct = ended.Token;
        using var registration = http.User.KeyId() is { } keyId
            ? keys.Register(http.User.UserId(), keyId, () => _ = ended.CancelAsync())
            : null;
        using var subscription = feed.Subscribe(http.User.UserId(), string.IsNullOrEmpty(id) ? null : id);
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        var body = http.Response.Body;
        try
        {
            await WriteAsync(body, "retry: 3000\n: connected\n\n", ct);
            var reader = subscription.Reader;
            Task<bool>? waiting = null;
            while (!ct.IsCancellationRequested)
            {
                waiting ??= reader.WaitToReadAsync(ct).AsTask();
                if (await Task.WhenAny(waiting, Task.Delay(HeartbeatInterval, ct)) != waiting)
                {
                    await WriteAsync(body, ": heartbeat\n\n", ct);
                    continue;
                }
                if (!await waiting) break; // the feed ended this stream (it fell behind): the client reconnects
                waiting = null;
                var sb = new StringBuilder();
                while (reader.TryRead(out var m))
                    sb.Append("id: ").Append(m.EmailId).Append(':').Append(m.Version).Append('\n')
                      .Append("event: ").Append(EmailStatusMessage.MethodName).Append('\n')
                      .Append("data: ").Append(JsonSerializer.Serialize(m, Json)).Append("\n\n");
                await WriteAsync(body, sb.ToString(), ct);
            }
        }
        catch (OperationCanceledException) { }
        catch (System.Threading.Channels.ChannelClosedException) { }
        return Results.Empty;
    }

    private static async Task WriteAsync(Stream body, string text, CancellationToken ct)
    {
        await body.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await body.FlushAsync(ct);
    }
}

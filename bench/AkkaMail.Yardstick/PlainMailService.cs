using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkkaMail.Yardstick;

/// <param name="Parallelism">Deliveries handled at once (the consumer's dispatch concurrency), like AkkaMail's
/// <c>sender.parallelism</c>.</param>
public sealed record PlainMailOptions(
    string RabbitUri, string Queue, string DatabasePath, string ProviderBaseUrl, string ProviderDomain, string ProviderApiKey,
    int Parallelism = 32, ushort Prefetch = 256);

/// <summary>
/// Issue 24's yardstick: the email service a .NET developer writes without actors, as durable as it is honest to be.
/// A minimal API takes <c>POST /api/emails</c>, writes a status row (SQLite, WAL, <c>synchronous=NORMAL</c>) and
/// publishes a persistent message to a durable queue with publisher confirms: the 202 waits for the broker's confirm.
/// A consumer (prefetch, several deliveries at once) calls the provider (Mailgun's HTTP API: the fake on loopback),
/// writes the status <c>sent</c> and then acks, so a crash before the ack sends again (at least once). It keeps no
/// timeline, no per-recipient state, no events: one row per email.
/// </summary>
public sealed class PlainMailService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private readonly IChannel _consumer;
    private readonly SqliteConnection _db;
    private readonly SemaphoreSlim _dbLock = new(1, 1);
    private readonly HttpClient _provider;
    private readonly PlainMailOptions _options;
    private long _sent;

    private PlainMailService(WebApplication app, IConnection connection, IChannel publisher, IChannel consumer, SqliteConnection db,
        HttpClient provider, PlainMailOptions options)
    {
        (_app, _connection, _publisher, _consumer, _db, _provider, _options) = (app, connection, publisher, consumer, db, provider, options);
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Emails the provider accepted and whose row says so.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public static async Task<PlainMailService> StartAsync(PlainMailOptions options)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.DatabasePath))!);
        var db = new SqliteConnection($"Data Source={options.DatabasePath};Pooling=False");
        await db.OpenAsync();
        using (var setup = db.CreateCommand())
        {
            setup.CommandText = """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS emails (
                  id TEXT PRIMARY KEY, status TEXT NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
                  subject TEXT NOT NULL, text TEXT NOT NULL, provider_message_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                """;
            await setup.ExecuteNonQueryAsync();
        }

        var factory = new ConnectionFactory { Uri = new Uri(options.RabbitUri), ClientProvidedName = "plain-mail", ConsumerDispatchConcurrency = (ushort)options.Parallelism };
        var connection = await factory.CreateConnectionAsync();
        var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(true, true, new ThrottlingRateLimiter(1000)));
        await publisher.QueueDeclareAsync(options.Queue, durable: true, exclusive: false, autoDelete: false);
        var consumer = await connection.CreateChannelAsync();
        await consumer.BasicQosAsync(0, options.Prefetch, false);

        var provider = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Parallelism }) { BaseAddress = new Uri(options.ProviderBaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        provider.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.ASCII.GetBytes("api:" + options.ProviderApiKey)));

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var service = new PlainMailService(app, connection, publisher, consumer, db, provider, options);
        app.MapPost("/api/emails", (Func<HttpContext, Task<IResult>>)service.AcceptAsync);
        await app.StartAsync();
        service.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        var handler = new AsyncEventingBasicConsumer(consumer);
        handler.ReceivedAsync += service.SendAsync;
        await consumer.BasicConsumeAsync(options.Queue, autoAck: false, handler);
        return service;
    }

    private sealed record EmailRequest(string? From, string[]? To, string? Subject, string? Text);

    private async Task<IResult> AcceptAsync(HttpContext http)
    {
        EmailRequest? request;
        try { request = await JsonSerializer.DeserializeAsync<EmailRequest>(http.Request.Body, Json); }
        catch (JsonException) { return Results.Problem("invalid JSON", statusCode: 400); }
        if (request is not { From.Length: > 0, To.Length: > 0, Subject: not null, Text: not null })
            return Results.Problem("from, to, subject and text are required", statusCode: 400);
        var id = Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await WriteAsync("INSERT INTO emails (id, status, sender, recipients, subject, text, created_at, updated_at) VALUES ($id, 'queued', $from, $to, $subject, $text, $now, $now)",
            c =>
            {
                c.Parameters.AddWithValue("$id", id);
                c.Parameters.AddWithValue("$from", request.From);
                c.Parameters.AddWithValue("$to", string.Join(",", request.To));
                c.Parameters.AddWithValue("$subject", request.Subject);
                c.Parameters.AddWithValue("$text", request.Text);
                c.Parameters.AddWithValue("$now", now);
            });
        var job = JsonSerializer.SerializeToUtf8Bytes(new Job(id, request.From, request.To, request.Subject, request.Text), Json);
        try
        {
            await _publisher.BasicPublishAsync("", _options.Queue, mandatory: true, new BasicProperties { Persistent = true, MessageId = id }, job);
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.PublishException or RabbitMQ.Client.Exceptions.AlreadyClosedException)
        {
            return Results.Problem("the queue did not confirm the email; retry", statusCode: 503);
        }
        return Results.Json(new { id, status = "queued" }, Json, statusCode: 202);
    }

    private sealed record Job(string Id, string From, string[] To, string Subject, string Text);

    private async Task SendAsync(object sender, BasicDeliverEventArgs delivery)
    {
        var job = JsonSerializer.Deserialize<Job>(delivery.Body.Span, Json)!;
        using var form = new FormUrlEncodedContent(
        [
            new("from", job.From), new("to", string.Join(",", job.To)), new("subject", job.Subject), new("text", job.Text),
            new("v:email-id", job.Id),
        ]);
        string? messageId = null;
        try
        {
            using var response = await _provider.PostAsync($"/v3/{_options.ProviderDomain}/messages", form);
            if (!response.IsSuccessStatusCode)
            {
                // A refusal: back to the queue for another try (a real service would tell permanent from transient).
                await _consumer.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
                return;
            }
            using var body = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
            messageId = body.RootElement.TryGetProperty("id", out var v) ? v.GetString() : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await _consumer.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true);
            return;
        }
        await WriteAsync("UPDATE emails SET status = 'sent', provider_message_id = $mid, updated_at = $now WHERE id = $id", c =>
        {
            c.Parameters.AddWithValue("$id", job.Id);
            c.Parameters.AddWithValue("$mid", (object?)messageId ?? DBNull.Value);
            c.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        });
        Interlocked.Increment(ref _sent);
        await _consumer.BasicAckAsync(delivery.DeliveryTag, multiple: false);
    }

    /// <summary>One connection, one writer at a time: SQLite takes one writer anyway, and it saves a connection pool.</summary>
    private async Task WriteAsync(string sql, Action<SqliteCommand> bind)
    {
        await _dbLock.WaitAsync();
        try
        {
            await using var command = _db.CreateCommand();
            command.CommandText = sql;
            bind(command);
            await command.ExecuteNonQueryAsync();
        }
        finally { _dbLock.Release(); }
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { await _consumer.CloseAsync(); } catch (Exception) { }
        try { await _publisher.QueueDeleteAsync(_options.Queue); } catch (Exception) { }
        try { await _publisher.CloseAsync(); } catch (Exception) { }
        await _connection.CloseAsync();
        _connection.Dispose();
        _provider.Dispose();
        await _db.CloseAsync();
        await _db.DisposeAsync();
        _dbLock.Dispose();
    }
}

using AkkaMail.Providers;
using Microsoft.Extensions.Time.Testing;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.Mailgun;
using AkkaMail.MailgunFake;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;
using AkkaMail.Api.Webhooks;

namespace AkkaMail.Api.Tests;

/// <summary>Builds webhook bodies the way Mailgun signs them, for tests.</summary>
public static class MailgunWebhooks
{
    public const string Path = "/api/webhooks/mailgun";
    public const string SamplesDir = "/work/shared/mailgun-samples";
    public const string SymfonyKey = "key-0p6mqbf74lb20gzq9f4dhpn9rg3zyk26";

    public static string[] SymfonySamples() =>
        Directory.Exists(SamplesDir) ? Directory.GetFiles(SamplesDir, "symfony_*.json").Order(StringComparer.Ordinal).ToArray() : [];

    /// <summary>A message as the fake would have recorded it, for building events without sending.</summary>
    public static FakeSentMessage Message(string messageId, string recipient, string? emailId = null) => new()
    {
        MessageId = messageId,
        ReceivedAt = DateTimeOffset.UtcNow,
        From = "App <app@example.com>",
        To = [recipient],
        Subject = "Hello",
        Text = "Hi",
        ContentType = "multipart/form-data",
        Recipients = [recipient],
        Variables = emailId is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["email-id"] = emailId },
    };

    /// <summary>A signature block for <paramref name="key"/>, fresh unless <paramref name="at"/> says otherwise.</summary>
    public static JsonObject Signature(string key, DateTimeOffset? at = null, string? token = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        token ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(25));
        return new JsonObject
        {
            ["timestamp"] = timestamp,
            ["token"] = token,
            ["signature"] = MailgunWebhookVerifier.ComputeSignature(key, timestamp, token),
        };
    }

    /// <summary>Replaces the signature block of a body with a fresh one (new token) signed with <paramref name="key"/>.</summary>
    public static byte[] Resign(byte[] body, string key, DateTimeOffset? at = null)
    {
        var root = JsonNode.Parse(body)!.AsObject();
        root["signature"] = Signature(key, at);
        return Encoding.UTF8.GetBytes(root.ToJsonString(FakeMailgunEvents.Json));
    }

    public static async Task<HttpResponseMessage> PostWebhookAsync(this HttpClient client, byte[] body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        // A body the service refuses by its Content-Length is answered 413 without being read, and the connection closed:
        // a client still writing it gets a broken pipe instead of the answer. With Expect: 100-continue it sends the
        // body only when asked, so it reads the 413 (as a careful client would).
        if (body.Length > MailgunWebhookEndpoints.MaxBodyBytes) request.Headers.ExpectContinue = true;
        return await client.SendAsync(request);
    }
}


/// <summary>The service with the sandbox provider and a webhook signing key: the webhook endpoint alone.</summary>
public sealed class WebhookHostFixture : IAsyncLifetime
{
    public const string SigningKey = "sk-webhook-tests";
    public ServiceHost Host { get; private set; } = null!;
    public async Task InitializeAsync() =>
        // Errors only: the fuzz test provokes thousands of (deliberate) warnings about signed-but-malformed events.
        Host = await ServiceHost.StartAsync(extraArgs: [$"--Mailgun:WebhookSigningKey={SigningKey}", "--AkkaMail:LogLevel=Error"]);
    public async Task DisposeAsync() => await Host.DisposeAsync();
}

public sealed class MailgunWebhookTests(WebhookHostFixture fixture, ITestOutputHelper output) : IClassFixture<WebhookHostFixture>
{
    private const string Key = WebhookHostFixture.SigningKey;
    private ServiceHost Host => fixture.Host;

    private static byte[] SignedEvent(string key, FakeWebhookEvent evt, string? emailId = null, string recipient = "nobody@example.com") =>
        FakeMailgunEvents.BuildWebhook(MailgunWebhooks.Message($"{Guid.NewGuid():N}@mg.test", recipient, emailId), recipient, evt, key, DateTimeOffset.UtcNow).Body;

    [Fact]
    public async Task Signed_event_for_an_unknown_email_is_200_ignored_and_needs_no_api_key()
    {
        using var client = Host.Client(); // no API key: the signature is the authentication
        var r = await client.PostWebhookAsync(SignedEvent(Key, FakeWebhookEvent.Delivered));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await r.ReadJsonAsync();
        Assert.Equal("ignored", body["status"]!.GetValue<string>());
        Assert.Equal("unknown email", body["detail"]!.GetValue<string>());

        // An email id we never issued, too.
        r = await client.PostWebhookAsync(SignedEvent(Key, FakeWebhookEvent.Opened, emailId: "0123456789abcdef0123456789abcdef"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("ignored", (await r.ReadJsonAsync())["status"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("stored")]
    [InlineData("list_member_uploaded")]
    [InlineData("something-new")]
    public async Task Untracked_event_types_are_200_ignored(string eventType)
    {
        using var client = Host.Client();
        var r = await client.PostWebhookAsync(SignedEvent(Key, new FakeWebhookEvent(eventType)));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await r.ReadJsonAsync();
        Assert.Equal("ignored", body["status"]!.GetValue<string>());
        Assert.Contains(eventType, body["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Missing_wrong_or_stale_signatures_are_401()
    {
        using var client = Host.Client();
        var good = JsonNode.Parse(SignedEvent(Key, FakeWebhookEvent.Delivered))!.AsObject();

        async Task<HttpStatusCode> Post(Action<JsonObject> change)
        {
            var copy = JsonNode.Parse(good.ToJsonString())!.AsObject();
            change(copy);
            var r = await client.PostWebhookAsync(Encoding.UTF8.GetBytes(copy.ToJsonString()));
            Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
            return r.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b.Remove("signature")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b["signature"]!.AsObject().Remove("token")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b["signature"] = MailgunWebhooks.Signature("another-key")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b["signature"]!["token"] = "x" + b["signature"]!["token"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b["signature"] = MailgunWebhooks.Signature(Key, DateTimeOffset.UtcNow.AddHours(-10))));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(b => b["signature"] = MailgunWebhooks.Signature(Key, DateTimeOffset.UtcNow.AddHours(1))));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostWebhookAsync([])).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostWebhookAsync("x=1"u8.ToArray(), "application/x-www-form-urlencoded")).StatusCode);
    }

    [Fact]
    public async Task Signed_body_with_malformed_event_data_is_406()
    {
        using var client = Host.Client();
        foreach (var data in new JsonNode?[]
        {
            null,
            JsonValue.Create("delivered"),
            new JsonArray(),
            new JsonObject { ["event"] = "delivered", ["timestamp"] = 1.5 },
            new JsonObject { ["id"] = "x", ["timestamp"] = 1.5 },
            new JsonObject { ["id"] = "x", ["event"] = "delivered" },
            new JsonObject { ["id"] = "x", ["event"] = "delivered", ["timestamp"] = "yesterday" },
            new JsonObject { ["id"] = 5, ["event"] = "delivered", ["timestamp"] = 1.5, ["recipient"] = "a@example.com" },
            new JsonObject { ["id"] = "x", ["event"] = "delivered", ["timestamp"] = 1.5 }, // tracked, but no recipient
        })
        {
            var root = new JsonObject { ["signature"] = MailgunWebhooks.Signature(Key) };
            if (data is not null) root["event-data"] = data;
            var r = await client.PostWebhookAsync(Encoding.UTF8.GetBytes(root.ToJsonString()));
            Assert.True(r.StatusCode == HttpStatusCode.NotAcceptable, $"{(int)r.StatusCode} for event-data {data?.ToJsonString() ?? "(none)"}");
        }
    }

    [Fact]
    public async Task Replayed_token_is_406_and_a_new_token_for_the_same_body_is_accepted()
    {
        using var client = Host.Client();
        var body = SignedEvent(Key, FakeWebhookEvent.Delivered);
        Assert.Equal(HttpStatusCode.OK, (await client.PostWebhookAsync(body)).StatusCode);
        var again = await client.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.NotAcceptable, again.StatusCode);
        Assert.Contains("replay", (await again.ReadJsonAsync())["detail"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.PostWebhookAsync(MailgunWebhooks.Resign(body, Key))).StatusCode);
    }

    [Fact]
    public async Task Body_over_one_megabyte_is_413()
    {
        using var client = Host.Client();
        var root = JsonNode.Parse(SignedEvent(Key, FakeWebhookEvent.Delivered))!.AsObject();
        root["padding"] = new string('x', MailgunWebhookEndpoints.MaxBodyBytes);
        var r = await client.PostWebhookAsync(Encoding.UTF8.GetBytes(root.ToJsonString()));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);

        // Chunked (no Content-Length): stopped while reading.
        using var content = new PushStreamContentLike(new string('y', MailgunWebhookEndpoints.MaxBodyBytes + 10));
        var chunked = await client.PostAsync(MailgunWebhooks.Path, content);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
    }

    /// <summary>A body without Content-Length, so it goes chunked.</summary>
    private sealed class PushStreamContentLike(string text) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            stream.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask();
        protected override bool TryComputeLength(out long length) { length = 0; return false; }
    }

    [Fact]
    public async Task Ten_thousand_random_and_malformed_bodies_get_4xx_never_5xx_and_the_service_keeps_serving()
    {
        var bodies = WebhookFuzz.Generate(10_000, seed: 20261127, Key);
        var histogram = new ConcurrentDictionary<int, int>();
        var failures = new ConcurrentQueue<string>();
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 16 };
        using var client = new HttpClient(handler) { BaseAddress = Host.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(bodies, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (b, ct) =>
        {
            using var content = new ByteArrayContent(b.Bytes);
            content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            using var r = await client.PostAsync(MailgunWebhooks.Path, content, ct);
            var status = (int)r.StatusCode;
            histogram.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (status is < 400 or >= 500 || (b.Expected is { } e && e != status))
                failures.Enqueue($"{b.Kind}: {status} (expected {b.Expected?.ToString() ?? "4xx"}): {Preview(b.Bytes)}");
        });
        watch.Stop();

        var kinds = bodies.GroupBy(b => b.Kind).Select(g => $"{g.Key}={g.Count()}");
        output.WriteLine($"{bodies.Count} bodies in {watch.Elapsed.TotalSeconds:0.00} s ({bodies.Count / watch.Elapsed.TotalSeconds:0} req/s)");
        output.WriteLine("status histogram: " + string.Join(", ", histogram.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}")));
        output.WriteLine("kinds: " + string.Join(", ", kinds));
        Assert.True(failures.IsEmpty, $"{failures.Count} unexpected answers, e.g.:\n" + string.Join("\n", failures.Take(10)));
        Assert.Equal(10_000, histogram.Values.Sum());

        // Still serving: health, an authentic webhook, and the authenticated API.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostWebhookAsync(SignedEvent(Key, FakeWebhookEvent.Delivered))).StatusCode);
        using var admin = Host.AdminClient();
        Assert.Equal(HttpStatusCode.Accepted, (await admin.PostJsonAsync("/api/emails", Json.ValidEmail())).StatusCode);
    }

    private static string Preview(byte[] body)
    {
        var s = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 160));
        return s.ReplaceLineEndings(" ");
    }
}

/// <summary>Generates hostile webhook bodies: each should get a 4xx, some a specific one.</summary>
public static class WebhookFuzz
{
    public sealed record Body(string Kind, byte[] Bytes, int? Expected);

    public static List<Body> Generate(int count, int seed, string key)
    {
        var rnd = new Random(seed);
        var samples = MailgunWebhooks.SymfonySamples().Select(File.ReadAllBytes).ToArray();
        var fake = FakeMailgunEvents.BuildWebhook(MailgunWebhooks.Message("fuzz@mg.test", "a@example.com"), "a@example.com",
            FakeWebhookEvent.Delivered, "not-the-service-key", DateTimeOffset.UtcNow).Body;
        if (samples.Length == 0) samples = [fake];
        var result = new List<Body>(count);
        for (var i = 0; i < count; i++)
        {
            var kind = i % 9;
            result.Add(kind switch
            {
                0 => RandomBytes(rnd),
                1 => Truncated(rnd, samples[rnd.Next(samples.Length)]),
                2 => Mutated(rnd, rnd.Next(2) == 0 ? samples[rnd.Next(samples.Length)] : fake),
                3 => WrongTypes(rnd),
                4 => DeepNesting(rnd, key),
                5 => SignedMalformedEvent(rnd, key),
                6 => BadSignature(rnd, key),
                7 => RandomJson(rnd),
                _ => SignedWithHostileStrings(rnd, key),
            });
        }
        return result;
    }

    private static Body RandomBytes(Random rnd)
    {
        var b = new byte[rnd.Next(0, 2048)];
        rnd.NextBytes(b);
        if (b.Length > 0 && rnd.Next(3) == 0) b[0] = (byte)'{';
        return new("random-bytes", b, 401);
    }

    private static Body Truncated(Random rnd, byte[] sample)
    {
        var last = Array.LastIndexOf(sample, (byte)'}');
        return new("truncated-sample", sample[..rnd.Next(0, last)], 401);
    }

    /// <summary>Flips bytes of bodies signed with a key other than the service's: never authentic.</summary>
    private static Body Mutated(Random rnd, byte[] sample)
    {
        var b = (byte[])sample.Clone();
        for (int n = rnd.Next(1, 8), j = 0; j < n; j++) b[rnd.Next(b.Length)] = (byte)rnd.Next(256);
        return new("mutated-foreign-sample", b, 401);
    }

    private static Body WrongTypes(Random rnd)
    {
        JsonNode? Junk() => rnd.Next(7) switch
        {
            0 => null,
            1 => JsonValue.Create(rnd.Next()),
            2 => JsonValue.Create(rnd.NextDouble() * 1e300),
            3 => JsonValue.Create(rnd.Next(2) == 0),
            4 => new JsonArray(JsonValue.Create("a"), JsonValue.Create(1)),
            5 => new JsonObject { ["x"] = "y" },
            _ => JsonValue.Create(""),
        };
        string text = rnd.Next(4) switch
        {
            0 => Junk()?.ToJsonString() ?? "null",
            1 => new JsonObject { ["signature"] = Junk(), ["event-data"] = Junk() }.ToJsonString(),
            2 => new JsonObject { ["signature"] = new JsonObject { ["timestamp"] = Junk(), ["token"] = Junk(), ["signature"] = Junk() }, ["event-data"] = new JsonObject() }.ToJsonString(),
            _ => new JsonArray(new JsonObject { ["signature"] = new JsonObject { ["timestamp"] = "1", ["token"] = "t", ["signature"] = "s" } }).ToJsonString(),
        };
        return new("wrong-types", Encoding.UTF8.GetBytes(text), 401);
    }

    private static Body DeepNesting(Random rnd, string key)
    {
        var depth = rnd.Next(33, 3_000);
        var open = rnd.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        var nested = string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
        // Even behind a valid signature the document is refused before anything is read from it.
        var text = rnd.Next(2) == 0
            ? nested
            : $"{{\"signature\":{MailgunWebhooks.Signature(key).ToJsonString()},\"event-data\":{nested}}}";
        return new("deep-nesting", Encoding.UTF8.GetBytes(text), 401);
    }

    private static Body SignedMalformedEvent(Random rnd, string key)
    {
        JsonNode? data = rnd.Next(10) switch
        {
            0 => null,
            1 => JsonValue.Create(rnd.Next()),
            2 => new JsonArray(),
            3 => new JsonObject { ["event"] = "delivered", ["timestamp"] = 1.5, ["recipient"] = "a@example.com" },
            4 => new JsonObject { ["id"] = rnd.Next(), ["event"] = "delivered", ["timestamp"] = 1.5, ["recipient"] = "a@example.com" },
            5 => new JsonObject { ["id"] = "e1", ["event"] = new JsonObject(), ["timestamp"] = 1.5, ["recipient"] = "a@example.com" },
            6 => new JsonObject { ["id"] = "e1", ["event"] = "failed", ["timestamp"] = "soon", ["recipient"] = "a@example.com" },
            7 => new JsonObject { ["id"] = "e1", ["event"] = "opened", ["timestamp"] = -rnd.Next(1, 1000), ["recipient"] = "a@example.com" },
            8 => new JsonObject { ["id"] = "e1", ["event"] = "clicked", ["timestamp"] = 1e20, ["recipient"] = "a@example.com" },
            _ => new JsonObject { ["id"] = "e1", ["event"] = "delivered", ["timestamp"] = 1.5, ["recipient"] = rnd.Next(2) == 0 ? null : 42 },
        };
        var root = new JsonObject { ["signature"] = MailgunWebhooks.Signature(key) };
        if (data is not null || rnd.Next(2) == 0) root["event-data"] = data;
        return new("signed-malformed-event", Encoding.UTF8.GetBytes(root.ToJsonString()), 406);
    }

    private static Body BadSignature(Random rnd, string key)
    {
        var sig = MailgunWebhooks.Signature(key);
        switch (rnd.Next(6))
        {
            case 0: sig["signature"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)); break;
            case 1: sig["timestamp"] = (long.Parse(sig["timestamp"]!.GetValue<string>(), CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture); break;
            case 2: sig["token"] = sig["token"]!.GetValue<string>() + "0"; break;
            case 3: sig = MailgunWebhooks.Signature(key, DateTimeOffset.UtcNow.AddMinutes(-rnd.Next(6, 100_000))); break; // stale
            case 4: sig["signature"] = new string('z', 64); break;
            default: sig["timestamp"] = "-" + sig["timestamp"]!.GetValue<string>(); break;
        }
        var root = new JsonObject
        {
            ["signature"] = sig,
            ["event-data"] = new JsonObject { ["id"] = "e1", ["event"] = "delivered", ["timestamp"] = 1.5, ["recipient"] = "a@example.com" },
        };
        return new("bad-signature", Encoding.UTF8.GetBytes(root.ToJsonString()), 401);
    }

    private static Body RandomJson(Random rnd)
    {
        JsonNode? Node(int depth)
        {
            switch (depth > 4 ? rnd.Next(4) : rnd.Next(6))
            {
                case 0: return null;
                case 1: return JsonValue.Create(rnd.Next(-1000, 1000));
                case 2: return JsonValue.Create(RandomString(rnd));
                case 3: return JsonValue.Create(rnd.Next(2) == 0);
                case 4:
                    var a = new JsonArray();
                    for (var i = rnd.Next(4); i > 0; i--) a.Add(Node(depth + 1));
                    return a;
                default:
                    var o = new JsonObject();
                    var names = new[] { "signature", "event-data", "timestamp", "token", "id", "event", "recipient", RandomString(rnd) };
                    for (var i = rnd.Next(5); i > 0; i--) o[names[rnd.Next(names.Length)]] = Node(depth + 1);
                    return o;
            }
        }
        return new("random-json", Encoding.UTF8.GetBytes(Node(0)?.ToJsonString() ?? "null"), 401);
    }

    /// <summary>Correct signature, event-data with lone surrogates and control characters where strings are read.</summary>
    private static Body SignedWithHostileStrings(Random rnd, string key)
    {
        var hostile = rnd.Next(3) switch { 0 => "\\ud800", 1 => "\\udfff\\ud800x", _ => "a\\ud83d" };
        var field = new[] { "id", "event", "recipient" }[rnd.Next(3)];
        string Val(string name, string normal) => name == field ? hostile : normal;
        var sig = MailgunWebhooks.Signature(key).ToJsonString();
        var text = $"{{\"signature\":{sig},\"event-data\":{{\"id\":\"{Val("id", "e1")}\",\"event\":\"{Val("event", "delivered")}\",\"timestamp\":1.5,\"recipient\":\"{Val("recipient", "a@example.com")}\"}}}}";
        return new("signed-hostile-strings", Encoding.UTF8.GetBytes(text), 406);
    }

    private static string RandomString(Random rnd)
    {
        var chars = new char[rnd.Next(0, 12)];
        for (var i = 0; i < chars.Length; i++) chars[i] = (char)rnd.Next(0x20, 0x7f);
        return new string(chars);
    }
}

/// <summary>The real Symfony fixtures (2022, signed with a known key) against the endpoint, with the clock set to their time.</summary>
public sealed class MailgunSymfonySampleTests : IAsyncLifetime
{
    // Before the oldest fixture: the test moves the clock forward only, to each sample's time in turn.
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2022, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        extraArgs: [$"--Mailgun:WebhookSigningKey={MailgunWebhooks.SymfonyKey}"],
        configure: b => b.Services.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Every_signed_symfony_sample_is_accepted_as_an_unknown_email_and_refused_when_replayed()
    {
        var samples = MailgunWebhooks.SymfonySamples();
        Assert.Equal(10, samples.Length);
        using var client = _host.Client();
        static long Timestamp(byte[] body) =>
            long.Parse(JsonNode.Parse(body)!["signature"]!["timestamp"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        foreach (var file in samples.OrderBy(f => Timestamp(File.ReadAllBytes(f))))
        {
            var body = await File.ReadAllBytesAsync(file);
            var ts = Timestamp(body);
            _clock.SetUtcNow(DateTimeOffset.FromUnixTimeSeconds(ts).AddSeconds(30));

            var r = await client.PostWebhookAsync(body);
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"{System.IO.Path.GetFileName(file)}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            var answer = await r.ReadJsonAsync();
            Assert.Equal("ignored", answer["status"]!.GetValue<string>());
            Assert.Equal("unknown email", answer["detail"]!.GetValue<string>());

            Assert.Equal(HttpStatusCode.NotAcceptable, (await client.PostWebhookAsync(body)).StatusCode);
            // The fixtures reuse tokens (accepted/clicks, and the three permanent failures share one): forget this one,
            // or the next sample with the same token is, rightly, a replay.
            var token = JsonNode.Parse(body)!["signature"]!["token"]!.GetValue<string>();
            await _host.App.Services.GetRequiredService<IWebhookTokenStore>().ForgetAsync(token, CancellationToken.None);
        }

        // With the real clock they are years stale.
        _clock.SetUtcNow(DateTimeOffset.UtcNow);
        var stale = MailgunWebhooks.Resign(await File.ReadAllBytesAsync(samples[0]), MailgunWebhooks.SymfonyKey, new DateTimeOffset(2022, 8, 27, 17, 35, 0, TimeSpan.Zero));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostWebhookAsync(stale)).StatusCode);
    }
}

/// <summary>The replay guard is in the read-model database: a replay is caught after a restart.</summary>
public sealed class MailgunWebhookRestartTests
{
    [Fact]
    public async Task A_token_seen_before_a_restart_is_still_a_replay_after_it()
    {
        const string key = "sk-restart";
        string[] args = [$"--Mailgun:WebhookSigningKey={key}"];
        var host = await ServiceHost.StartAsync(extraArgs: args);
        try
        {
            var body = FakeMailgunEvents.BuildWebhook(MailgunWebhooks.Message("r1@mg.test", "a@example.com"), "a@example.com",
                FakeWebhookEvent.Delivered, key, DateTimeOffset.UtcNow).Body;
            using (var client = host.Client())
                Assert.Equal(HttpStatusCode.OK, (await client.PostWebhookAsync(body)).StatusCode);
            await host.StopAsync();
            host = await ServiceHost.StartAsync(host.DataPath, extraArgs: args);
            using (var client = host.Client())
            {
                Assert.Equal(HttpStatusCode.NotAcceptable, (await client.PostWebhookAsync(body)).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await client.PostWebhookAsync(MailgunWebhooks.Resign(body, key))).StatusCode);
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }
}

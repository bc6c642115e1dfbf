using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AkkaMail.MailgunFake;

namespace AkkaMail.Mailgun.Tests;

public sealed class MailgunClientTests : IAsyncLifetime
{
    private MailgunFakeServer _fake = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { Domain = "mg.akkamail.test", ApiKey = "key-secret", Seed = 1 });

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _http.Dispose();
    }

    private MailgunClient Client(TimeSpan? timeout = null, MailgunFakeServer? fake = null) => new(_http, (fake ?? _fake).ClientOptions(timeout));

    private static MailgunMessage Simple(string to = "alice@example.com") => new()
    {
        From = "AkkaMail <noreply@mg.akkamail.test>",
        To = [to],
        Subject = "Hello",
        Text = "Hi there",
    };

    [Fact]
    public async Task Success_is_accepted_with_brackets_stripped_and_every_field_mapped()
    {
        var deliverAt = new DateTimeOffset(2030, 10, 14, 23, 10, 10, TimeSpan.FromHours(2));
        var pdf = Encoding.ASCII.GetBytes("%PDF-1.4 fake");
        var png = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 255 };
        var message = new MailgunMessage
        {
            From = "\"AkkaMail, Inc.\" <noreply@mg.akkamail.test>",
            To = ["Alice <alice@example.com>", "bob@example.com"],
            Cc = ["Carol <carol@example.com>"],
            Bcc = ["dave@example.com"],
            ReplyTo = "support@akkamail.test",
            Subject = "Your receipt — ünïcödé",
            Text = "plain body",
            Html = "<p>html body</p>",
            Tags = ["receipt", "tenant-42"],
            Headers = new Dictionary<string, string> { ["X-Email-Id"] = "e-123", ["X-Priority"] = "1" },
            Variables = new Dictionary<string, string> { ["email-id"] = "e-123", ["user-id"] = "u-9" },
            Attachments = [new("receipt.pdf", "application/pdf", pdf), new("logo.png", "image/png", png)],
            TestMode = true,
            Tracking = new MailgunTracking(Enabled: true, Clicks: MailgunClickTracking.HtmlOnly, Opens: false),
            DeliveryTime = deliverAt,
        };

        var result = await Client().SendAsync(message, default);

        var accepted = Assert.IsType<MailgunSendResult.Accepted>(result);
        Assert.DoesNotContain('<', accepted.MessageId);
        Assert.DoesNotContain('>', accepted.MessageId);
        Assert.EndsWith("@mg.akkamail.test", accepted.MessageId);
        var sent = Assert.Single(_fake.Messages);
        Assert.Equal(accepted.MessageId, sent.MessageId);
        Assert.Equal("multipart/form-data", sent.ContentType);
        Assert.Equal(message.From, sent.From);
        Assert.Equal(message.To, sent.To);
        Assert.Equal(message.Cc, sent.Cc);
        Assert.Equal(message.Bcc, sent.Bcc);
        Assert.Equal(["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"], sent.Recipients);
        Assert.Equal("support@akkamail.test", sent.ReplyTo);
        Assert.Equal(message.Subject, sent.Subject);
        Assert.Equal("plain body", sent.Text);
        Assert.Equal("<p>html body</p>", sent.Html);
        Assert.Equal(["receipt", "tenant-42"], sent.Tags);
        Assert.Equal("e-123", sent.Headers["X-Email-Id"]);
        Assert.Equal("1", sent.Headers["X-Priority"]);
        Assert.Equal("e-123", sent.Variables["email-id"]);
        Assert.Equal("u-9", sent.Variables["user-id"]);
        Assert.Equal("yes", sent.Options["testmode"]);
        Assert.Equal("yes", sent.Options["tracking"]);
        Assert.Equal("htmlonly", sent.Options["tracking-clicks"]);
        Assert.Equal("no", sent.Options["tracking-opens"]);
        Assert.Equal("Mon, 14 Oct 2030 21:10:10 +0000", sent.Options["deliverytime"]);
        Assert.Collection(sent.Attachments,
            a => { Assert.Equal("receipt.pdf", a.FileName); Assert.Equal("application/pdf", a.ContentType); Assert.Equal(pdf, a.Content); },
            a => { Assert.Equal("logo.png", a.FileName); Assert.Equal("image/png", a.ContentType); Assert.Equal(png, a.Content); });
        Assert.Equal(1, _fake.CallCount);
        Assert.Equal(1, _fake.AcceptedCount);
    }

    [Fact]
    public async Task Rate_limited_429_is_transient_with_retry_after_from_the_header()
    {
        _fake.EnqueueFailures(429);
        var result = await Client().SendAsync(Simple(), default);
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(result);
        Assert.Equal(429, t.StatusCode);
        Assert.Contains("try again after", t.Reason);
        Assert.Equal(TimeSpan.FromSeconds(1), t.RetryAfter);
        Assert.Empty(_fake.Messages);
        // the next call goes through
        Assert.IsType<MailgunSendResult.Accepted>(await Client().SendAsync(Simple(), default));
    }

    [Fact]
    public async Task Rate_limited_without_headers_takes_retry_after_from_the_try_again_after_text()
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { RateLimitHeaders = false, RateLimitRetryAfter = TimeSpan.FromSeconds(30) });
        fake.EnqueueFailures(429, 420);
        foreach (var status in new[] { 429, 420 })
        {
            var t = Assert.IsType<MailgunSendResult.TransientFailure>(await Client(fake: fake).SendAsync(Simple(), default));
            Assert.Equal(status, t.StatusCode);
            Assert.NotNull(t.RetryAfter);
            Assert.InRange(t.RetryAfter!.Value, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(31));
        }
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    public async Task Server_errors_are_transient(int status)
    {
        _fake.EnqueueFailures(status);
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(await Client().SendAsync(Simple(), default));
        Assert.Equal(status, t.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace(t.Reason));
        Assert.Null(t.RetryAfter);
    }

    [Fact]
    public async Task Timeout_is_transient_and_prompt()
    {
        _fake.Latency = TimeSpan.FromSeconds(5);
        var sw = Stopwatch.StartNew();
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(await Client(TimeSpan.FromMilliseconds(300)).SendAsync(Simple(), default));
        sw.Stop();
        Assert.Null(t.StatusCode);
        Assert.Contains("Timed out", t.Reason);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Callers_cancellation_propagates()
    {
        _fake.Latency = TimeSpan.FromSeconds(5);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Client().SendAsync(Simple(), cts.Token));
    }

    [Fact]
    public async Task Connection_refused_is_transient()
    {
        var closed = await MailgunFakeServer.StartAsync();
        var options = closed.ClientOptions();
        await closed.DisposeAsync();
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(await new MailgunClient(_http, options).SendAsync(Simple(), default));
        Assert.Null(t.StatusCode);
        Assert.StartsWith("Connection failure", t.Reason);
    }

    [Fact]
    public async Task Missing_body_is_permanent_400_with_mailguns_message()
    {
        var p = Assert.IsType<MailgunSendResult.PermanentFailure>(await Client().SendAsync(Simple() with { Text = null }, default));
        Assert.Equal(400, p.StatusCode);
        Assert.Equal("Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified", p.Reason);
    }

    [Fact]
    public async Task Missing_to_and_invalid_from_are_permanent_400()
    {
        var noTo = Assert.IsType<MailgunSendResult.PermanentFailure>(await Client().SendAsync(Simple() with { To = [] }, default));
        Assert.Equal("'to' parameter is missing", noTo.Reason);
        var badFrom = Assert.IsType<MailgunSendResult.PermanentFailure>(await Client().SendAsync(Simple() with { From = "nobody" }, default));
        Assert.Equal(400, badFrom.StatusCode);
        Assert.Contains("'from' parameter is not a valid address", badFrom.Reason);
    }

    [Fact]
    public async Task Wrong_api_key_is_permanent_401_forbidden()
    {
        var options = _fake.ClientOptions();
        options.ApiKey = "key-wrong";
        var p = Assert.IsType<MailgunSendResult.PermanentFailure>(await new MailgunClient(_http, options).SendAsync(Simple(), default));
        Assert.Equal(401, p.StatusCode);
        Assert.Equal("Forbidden", p.Reason);
    }

    [Fact]
    public async Task Unknown_domain_is_permanent_404()
    {
        var options = _fake.ClientOptions();
        options.Domain = "other.example";
        var p = Assert.IsType<MailgunSendResult.PermanentFailure>(await new MailgunClient(_http, options).SendAsync(Simple(), default));
        Assert.Equal(404, p.StatusCode);
        Assert.Equal("Domain not found: other.example", p.Reason);
    }

    [Fact]
    public async Task Too_large_is_permanent_413()
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { MaxMessageSize = 64 * 1024 });
        var message = Simple() with { Attachments = [new("big.bin", "application/octet-stream", new byte[100 * 1024])] };
        var p = Assert.IsType<MailgunSendResult.PermanentFailure>(await Client(fake: fake).SendAsync(message, default));
        Assert.Equal(413, p.StatusCode);
    }

    [Fact]
    public async Task Client_refuses_more_than_max_tags_or_recipients()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Client().SendAsync(Simple() with { Tags = ["a", "b", "c", "d"] }, default));
        var many = Enumerable.Range(0, MailgunMessage.MaxRecipients + 1).Select(i => $"r{i}@example.com").ToArray();
        await Assert.ThrowsAsync<ArgumentException>(() => Client().SendAsync(Simple() with { To = many }, default));
        Assert.Equal(0, _fake.CallCount);
        // exactly the maximum goes through
        Assert.IsType<MailgunSendResult.Accepted>(await Client().SendAsync(Simple() with { To = many[..MailgunMessage.MaxRecipients] }, default));
        Assert.Equal(MailgunMessage.MaxRecipients, _fake.Messages[0].Recipients.Count);
    }

    [Fact]
    public async Task Fake_enforces_the_recipient_limit_and_basic_auth_on_raw_requests()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("a@mg.akkamail.test"), "from" },
            { new StringContent(string.Join(",", Enumerable.Range(0, 1001).Select(i => $"r{i}@example.com"))), "to" },
            { new StringContent("body"), "text" },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{_fake.BaseUrl}/v3/{_fake.Domain}/messages") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("api:key-secret")));
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Too many recipients", await response.Content.ReadAsStringAsync());

        using var noAuth = await _http.PostAsync($"{_fake.BaseUrl}/v3/{_fake.Domain}/messages", new FormUrlEncodedContent([new("from", "a@b.c")]));
        Assert.Equal(HttpStatusCode.Unauthorized, noAuth.StatusCode);
        Assert.Equal("Forbidden", await noAuth.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Fake_answers_like_mailgun_on_the_wire()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{_fake.BaseUrl}/v3/{_fake.Domain}/messages")
        {
            Content = new FormUrlEncodedContent([new("from", "a@mg.akkamail.test"), new("to", "b@example.com"), new("text", "x")]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("api:key-secret")));
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Matches("""^\{"id":"<\d{14}\.\d+\.\d+@mg\.akkamail\.test>","message":"Queued\. Thank you\."\}$""", body);
        Assert.Equal("application/x-www-form-urlencoded", _fake.Messages[0].ContentType); // Mailgun accepts both encodings

        _fake.EnqueueFailures(429);
        using var limited = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Post, request.RequestUri)
        {
            Content = new FormUrlEncodedContent([new("from", "a@mg.akkamail.test")]),
            Headers = { Authorization = request.Headers.Authorization },
        });
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), limited.Headers.RetryAfter!.Delta);
        Assert.True(limited.Headers.Contains("X-RateLimit-Reset"));
        Assert.Contains("try again after", await limited.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Failure_rate_and_latency_can_change_at_run_time()
    {
        var client = Client();
        _fake.FailureRate = 1;
        var failed = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => client.SendAsync(Simple(), default)));
        Assert.All(failed, r => Assert.IsType<MailgunSendResult.TransientFailure>(r));
        var statuses = failed.Cast<MailgunSendResult.TransientFailure>().Select(t => t.StatusCode).Distinct().Order().ToArray();
        Assert.Contains(429, statuses);
        Assert.All(statuses, s => Assert.Contains(s, new int?[] { 429, 500, 503 }));

        _fake.FailureRate = 0;
        _fake.Latency = TimeSpan.FromMilliseconds(50);
        var sw = Stopwatch.StartNew();
        Assert.IsType<MailgunSendResult.Accepted>(await client.SendAsync(Simple(), default));
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(45));
        Assert.Equal(41, _fake.CallCount);
        Assert.Equal(40, _fake.RejectedCount);
        Assert.Equal(1, _fake.AcceptedCount);
    }

    [Fact]
    public async Task Parallel_sends_are_all_recorded_with_unique_ids()
    {
        var client = Client();
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => client.SendAsync(Simple($"user{i}@example.com"), default)));
        var ids = results.Select(r => Assert.IsType<MailgunSendResult.Accepted>(r).MessageId).ToHashSet();
        Assert.Equal(200, ids.Count);
        Assert.Equal(200, _fake.Messages.Count);
        Assert.True(ids.SetEquals(_fake.Messages.Select(m => m.MessageId)));
    }

    [Theory]
    [InlineData("Domain mg.x is not allowed to send: recipient limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 UTC", 31)]
    [InlineData("Rate limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 GMT.", 31)]
    [InlineData("try again after 2025-08-25T07:01:00Z", 60)]
    [InlineData("nothing useful here", null)]
    [InlineData("try again after whenever", null)]
    public void Try_again_after_text_is_parsed(string text, int? expectedSeconds)
    {
        var now = new DateTimeOffset(2025, 8, 25, 7, 0, 0, TimeSpan.Zero);
        var wait = MailgunClient.ParseTryAgainAfter(text, now);
        Assert.Equal(expectedSeconds is { } s ? TimeSpan.FromSeconds(s) : null, wait);
    }
}

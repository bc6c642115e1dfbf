using Microsoft.Extensions.Time.Testing;
using System.Net;
using System.Text;

namespace AkkaMail.Mailgun.Tests;

/// <summary>Answer classification and Retry-After extraction, with a stub handler (no network).</summary>
public class MailgunClientClassificationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 22, 0, 0, TimeSpan.Zero);

    private sealed class StubHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public HttpRequestMessage? LastRequest { get; private set; }
        public string? LastBody { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            LastRequest = request;
            LastBody = request.Content is null ? null : await request.Content.ReadAsStringAsync(ct);
            return answer(request);
        }
    }

    private static (MailgunClient Client, StubHandler Handler) Client(Func<HttpRequestMessage, HttpResponseMessage> answer)
    {
        var handler = new StubHandler(answer);
        var options = new MailgunOptions { BaseUrl = "https://api.eu.mailgun.net/", Domain = "mg.example.com", ApiKey = "key-abc" };
        return (new MailgunClient(new HttpClient(handler), options, new FakeTimeProvider(Now)), handler);
    }

    private static HttpResponseMessage Answer(int status, string body, Action<HttpResponseMessage>? headers = null)
    {
        var r = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        headers?.Invoke(r);
        return r;
    }

    private static readonly MailgunMessage Message = new() { From = "a@mg.example.com", To = ["b@example.com"], Text = "x" };

    private static async Task<MailgunSendResult> Send(int status, string body, Action<HttpResponseMessage>? headers = null) =>
        await Client(_ => Answer(status, body, headers)).Client.SendAsync(Message, default);

    [Fact]
    public async Task Request_is_a_basic_auth_multipart_post_to_the_domain_endpoint()
    {
        var (client, handler) = Client(_ => Answer(200, """{"id":"<x@y>","message":"Queued. Thank you."}"""));
        Assert.Equal(new MailgunSendResult.Accepted("x@y"), await client.SendAsync(Message, default));
        var request = handler.LastRequest!;
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("https://api.eu.mailgun.net/v3/mg.example.com/messages", request.RequestUri!.ToString());
        Assert.Equal("Basic", request.Headers.Authorization!.Scheme);
        Assert.Equal("api:key-abc", Encoding.UTF8.GetString(Convert.FromBase64String(request.Headers.Authorization.Parameter!)));
        Assert.Equal("multipart/form-data", request.Content!.Headers.ContentType!.MediaType);
        Assert.Contains("name=\"from\"", handler.LastBody);
    }

    [Theory]
    [InlineData("""{"id":"<20111114174239.25659.5817@samples.mailgun.org>","message":"Queued. Thank you."}""", "20111114174239.25659.5817@samples.mailgun.org")]
    [InlineData("""{"id":"no-brackets@x","message":"Queued. Thank you."}""", "no-brackets@x")]
    [InlineData("""{"message":"Queued. Thank you."}""", "")]
    [InlineData("not json", "")]
    public async Task Success_bodies(string body, string expectedId) =>
        Assert.Equal(new MailgunSendResult.Accepted(expectedId), await Send(200, body));

    [Theory]
    [InlineData(400, """{"message":"'to' parameter is missing"}""", "'to' parameter is missing")]
    [InlineData(401, "Forbidden", "Forbidden")]
    [InlineData(402, """{"message":"Payment required"}""", "Payment required")]
    [InlineData(403, """{"message":"Domain mg.example.com is not allowed to send: Free accounts are for test purposes only."}""", "Domain mg.example.com is not allowed to send: Free accounts are for test purposes only.")]
    [InlineData(404, """{"message":"Domain not found: mg.example.com"}""", "Domain not found: mg.example.com")]
    [InlineData(413, "", "Request Entity Too Large")]
    public async Task Other_4xx_are_permanent_with_mailguns_message(int status, string body, string reason)
    {
        var result = await Client(_ =>
        {
            var r = Answer(status, body);
            r.ReasonPhrase = null;
            return r;
        }).Client.SendAsync(Message, default);
        Assert.Equal(new MailgunSendResult.PermanentFailure(status, reason), result);
    }

    [Fact]
    public async Task Html_error_pages_are_truncated_into_the_reason()
    {
        var html = "<html>" + new string('x', 5000) + "</html>";
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(await Send(502, html));
        Assert.Equal(502, t.StatusCode);
        Assert.True(t.Reason.Length <= 501);
    }

    [Theory]
    [InlineData(408)]
    [InlineData(420)]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(599)]
    public async Task Transient_statuses(int status) =>
        Assert.IsType<MailgunSendResult.TransientFailure>(await Send(status, """{"message":"x"}"""));

    [Fact]
    public async Task Retry_after_delta_seconds() =>
        Assert.Equal(TimeSpan.FromSeconds(7), RetryAfter(await Send(429, "{}", r => r.Headers.Add("Retry-After", "7"))));

    [Fact]
    public async Task Retry_after_http_date() =>
        Assert.Equal(TimeSpan.FromSeconds(90), RetryAfter(await Send(503, "{}", r => r.Headers.Add("Retry-After", Now.AddSeconds(90).ToString("r")))));

    [Theory]
    [InlineData("1795816830000", 30)]   // epoch milliseconds (Now = 1795816800)
    [InlineData("1795816830", 30)]      // epoch seconds
    [InlineData("12", 12)]              // seconds to wait
    [InlineData("Fri, 27 Nov 2026 22:00:45 GMT", 45)]
    public async Task X_RateLimit_Reset_variants(string header, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), RetryAfter(await Send(429, "{}", r => r.Headers.Add("X-RateLimit-Reset", header))));

    [Fact]
    public async Task Retry_after_from_text_and_none()
    {
        Assert.Equal(TimeSpan.FromSeconds(31), RetryAfter(await Send(429, """{"message":"Rate limit exceeded, try again after Fri, 27 Nov 2026 22:00:31 UTC"}""")));
        Assert.Null(RetryAfter(await Send(429, """{"message":"slow down"}""")));
        Assert.Equal(TimeSpan.Zero, RetryAfter(await Send(429, "{}", r => r.Headers.Add("X-RateLimit-Reset", "1000000001"))));
    }

    [Fact]
    public async Task Network_failures_are_transient_without_status()
    {
        var (client, _) = Client(_ => throw new HttpRequestException("Connection reset by peer", new IOException("reset")));
        var t = Assert.IsType<MailgunSendResult.TransientFailure>(await client.SendAsync(Message, default));
        Assert.Null(t.StatusCode);
        Assert.Contains("Connection reset", t.Reason);
    }

    [Fact]
    public async Task Programming_errors_throw()
    {
        Assert.Throws<ArgumentException>(() => new MailgunClient(new HttpClient(), new MailgunOptions { Domain = "", ApiKey = "k" }));
        Assert.Throws<ArgumentException>(() => new MailgunClient(new HttpClient(), new MailgunOptions { Domain = "d", ApiKey = "k", BaseUrl = "not a url" }));
        var (client, _) = Client(_ => Answer(200, "{}"));
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.SendAsync(null!, default));
    }

    [Fact]
    public void Rfc2822_dates_are_utc()
    {
        Assert.Equal("Fri, 14 Oct 2011 23:10:10 +0000", MailgunClient.ToRfc2822(new DateTimeOffset(2011, 10, 15, 1, 10, 10, TimeSpan.FromHours(2))));
    }

    private static TimeSpan? RetryAfter(MailgunSendResult r) => Assert.IsType<MailgunSendResult.TransientFailure>(r).RetryAfter;
}

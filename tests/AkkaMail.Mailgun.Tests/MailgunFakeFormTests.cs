using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AkkaMail.MailgunFake;

namespace AkkaMail.Mailgun.Tests;

/// <summary>The fake's own multipart parsing, with hand-written bodies: what it refuses and how.</summary>
public sealed class MailgunFakeFormTests
{
    /// <summary>A body sent as it is, chunked when <paramref name="knownLength"/> is false.</summary>
    private sealed class RawContent(string body, string contentType, bool knownLength = true) : HttpContent
    {
        private readonly byte[] _bytes = Encoding.UTF8.GetBytes(body);

        public RawContent Typed()
        {
            Headers.TryAddWithoutValidation("Content-Type", contentType);
            return this;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = _bytes.Length;
            return knownLength;
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> Post(MailgunFakeServer fake, HttpContent content)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{fake.BaseUrl}/v3/{fake.Domain}/messages") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + fake.ApiKey)));
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Body(params string[] parts) =>
        string.Concat(parts.Select(p => "--b1\r\n" + p + "\r\n")) + "--b1--\r\n";

    private const string From = "Content-Disposition: form-data; name=\"from\"\r\n\r\na@mg.test";
    private const string To = "Content-Disposition: form-data; name=\"to\"\r\n\r\nb@example.com";
    private const string Text = "Content-Disposition: form-data; name=\"text\"\r\n\r\nhello";

    [Fact]
    public async Task A_well_formed_hand_written_body_is_accepted_with_tokens_charsets_and_case_insensitive_names()
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var (status, _) = await Post(fake, new RawContent(Body(
            "Content-Disposition: form-data; name=FROM\r\n\r\na@mg.test",
            To,
            "Content-Disposition: form-data; name=\"subject\"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\u00e9",
            Text,
            "Content-Disposition: form-data; name=\"h:X-A\\\\B\"\r\n\r\nv",
            "Content-Disposition: inline; name=\"ignored\"\r\n\r\nx"), "multipart/form-data; boundary=b1").Typed());
        Assert.Equal(HttpStatusCode.OK, status);
        var sent = Assert.Single(fake.Messages);
        Assert.Equal("a@mg.test", sent.From);
        Assert.Equal("cafÃ©", sent.Subject); // the UTF-8 bytes of é, read as the declared ISO-8859-1
        Assert.Equal("v", sent.Headers["X-A\\B"]);
        Assert.DoesNotContain("ignored", sent.Fields.Keys);
    }

    [Theory]
    [InlineData("multipart/form-data", "Missing content-type boundary")]
    [InlineData("multipart/form-data; boundary=b1", "invalid Content-Disposition")]
    public async Task Malformed_multipart_is_400(string contentType, string reason)
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var (status, body) = await Post(fake, new RawContent(Body(From, To, "Content-Type: text/plain\r\n\r\nno disposition"), contentType).Typed());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, body);
        Assert.Empty(fake.Messages);
    }

    [Fact]
    public async Task Truncated_multipart_is_400()
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var (status, body) = await Post(fake, new RawContent("--b1\r\n" + From + "\r\n--b1\r\n" + To, "multipart/form-data; boundary=b1").Typed());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("Invalid form data", body);
    }

    [Fact]
    public async Task A_chunked_body_with_a_part_over_the_size_limit_is_413()
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { MaxMessageSize = 1024 });
        var big = "Content-Disposition: form-data; name=\"html\"\r\n\r\n" + new string('x', 2048);
        var (status, body) = await Post(fake, new RawContent(Body(From, To, big), "multipart/form-data; boundary=b1", knownLength: false).Typed());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("too large", body);
    }
}

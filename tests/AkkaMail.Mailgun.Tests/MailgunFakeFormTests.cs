using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AkkaMail.MailgunFake;

namespace AkkaMail.Mailgun.Tests;

/// <summary>The fake's own multipart parsing, with hand-written bodies: what it refuses and how.</summary>
public sealed class MailgunFakeFormTests
{
    /// <summary>A body sent as it is, chunked when <paramref name="knownLength"/> is false.</summary>
    private sealed class RawContent(byte[] bytes, string contentType, bool knownLength = true) : HttpContent
    {
        private readonly byte[] _bytes = bytes;

        public RawContent(string body, string contentType, bool knownLength = true)
            : this(Encoding.UTF8.GetBytes(body), contentType, knownLength)
        {
        }

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

    private const string Multipart = "multipart/form-data; boundary=b1";

    /// <summary>Posts a hand-written body that must be accepted and returns what the fake recorded.</summary>
    private static async Task<FakeSentMessage> Accepted(MailgunFakeServer fake, HttpContent content)
    {
        var (status, body) = await Post(fake, content);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
        return Assert.Single(fake.Messages);
    }

    [Fact]
    public async Task Preamble_epilogue_and_transport_padding_after_the_boundary_are_accepted()
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(
            "This is a preamble.\r\n--b1 is not a delimiter\r\n"
            + "--b1 \t\r\n" + From + "\r\n"
            + "--b1\t\r\n" + To + "\r\n"
            + "--b1   \r\n" + Text + "\r\n"
            + "--b1-- \t\r\nAn epilogue.\r\n--b1\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nnot a part\r\n--b1--\r\n",
            Multipart).Typed());
        Assert.Equal("a@mg.test", sent.From);
        Assert.Equal(["b@example.com"], sent.To);
        Assert.Equal("hello", sent.Text);
        Assert.Null(sent.Subject);
        Assert.Equal(["from", "to", "text"], sent.Fields.Keys);
    }

    [Fact]
    public async Task A_body_may_open_with_crlf_and_close_without_one()
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent("\r\n--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\n" + Text + "\r\n--b1--", Multipart).Typed());
        Assert.Equal("hello", sent.Text);
    }

    [Fact]
    public async Task Values_keep_crlf_and_lines_that_only_look_like_boundaries()
    {
        // Only CRLF "--b1" followed by padding and CRLF, or by "--", delimits; the rest is content.
        const string value = "line 1\r\n--b1X\r\n--b\r\n--b1-\r\n-- b1\r\n--b1 x\r\n\r\n--B1\r\nlast\r\n";
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(Body(From, To, "Content-Disposition: form-data; name=\"text\"\r\n\r\n" + value,
            "Content-Disposition: form-data; name=\"subject\"\r\n\r\n"), Multipart).Typed());
        Assert.Equal(value, sent.Text);
        Assert.Equal("", sent.Subject);
    }

    [Fact]
    public async Task Files_keep_their_exact_bytes_name_and_type()
    {
        byte[] content = [0, 1, 0xFF, (byte)'\r', (byte)'\n', (byte)'-', (byte)'-', (byte)'b', (byte)'1', (byte)'X', (byte)'\r', (byte)'\n'];
        var body = new MemoryStream();
        void Write(string s) => body.Write(Encoding.UTF8.GetBytes(s));
        Write(Body(From, To, Text).Replace("--b1--\r\n", ""));
        Write("--b1\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a \\\"b\\\".bin\"\r\nContent-Type: application/x-test\r\n\r\n");
        body.Write(content);
        Write("\r\n--b1\r\ncontent-disposition: form-data; name=\"inline\"; filename*=UTF-8''caf%C3%A9.png\r\n\r\npng\r\n--b1--\r\n");
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(body.ToArray(), Multipart).Typed());
        var file = Assert.Single(sent.Attachments);
        Assert.Equal("a \"b\".bin", file.FileName);
        Assert.Equal("application/x-test", file.ContentType);
        Assert.Equal(content, file.Content);
        var inline = Assert.Single(sent.Inline);
        Assert.Equal("café.png", inline.FileName);
        Assert.Equal("application/octet-stream", inline.ContentType);
        Assert.Equal("png"u8.ToArray(), inline.Content);
    }

    [Fact]
    public async Task Text_is_utf8_unless_another_charset_is_declared()
    {
        var body = new MemoryStream();
        void Write(string s, Encoding? encoding = null) => body.Write((encoding ?? Encoding.UTF8).GetBytes(s));
        Write(Body(From, To, Text).Replace("--b1--\r\n", ""));
        Write("--b1\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n");
        Write("Grüße ✓ 日本");
        Write("\r\n--b1\r\nContent-Disposition: form-data; name=\"h:X-Latin\"\r\nCONTENT-TYPE: text/plain; charset=ISO-8859-1\r\n\r\n");
        Write("café", Encoding.Latin1);
        Write("\r\n--b1--\r\n");
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(body.ToArray(), Multipart).Typed());
        Assert.Equal("Grüße ✓ 日本", sent.Subject);
        Assert.Equal("café", sent.Headers["X-Latin"]);
    }

    [Theory]
    [InlineData("utf-7")]
    [InlineData("x-no-such-charset")]
    public async Task An_unknown_or_refused_charset_is_read_as_utf8_not_a_500(string charset)
    {
        var subject = $"Content-Disposition: form-data; name=\"subject\"\r\nContent-Type: text/plain; charset={charset}\r\n\r\nGrüße +AGEAYgBj-";
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(Body(From, To, Text, subject), Multipart).Typed());
        Assert.Equal("Grüße +AGEAYgBj-", sent.Subject);
    }

    [Fact]
    public async Task The_header_count_limit_counts_distinct_names()
    {
        var repeated = string.Concat(Enumerable.Repeat("X-Same: 1\r\nx-same: 2\r\n", 10));
        await using var fake = await MailgunFakeServer.StartAsync();
        var sent = await Accepted(fake, new RawContent(Body(From, To, repeated + Text), Multipart).Typed());
        Assert.Equal("hello", sent.Text);
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\n" + Text + "\r\n", "Unexpected end" },         // no closing delimiter
        { "--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\nContent-Disposition: form-da", "Unexpected end" }, // cut in a header
        { "--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\nContent-Disposition: form-data; name=\"text\"\r\n", "Unexpected end" }, // cut before the empty line
        { "--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\n" + Text + "\r\n--b1--x\r\n", "Unexpected end" }, // not a close delimiter
        { "--b1\r\n" + From + "\r\n--b1\r\n" + To + "\r\n--b1\r\n" + Text + "\r\n--b1", "Unexpected end" },       // nor is a bare boundary at the end
        { "--b2\r\n" + From + "\r\n--b2--\r\n", "Unexpected end" },                                                 // the declared boundary never comes
        { "--b1\r\nno colon\r\n\r\nx\r\n--b1--\r\n", "Invalid header line: no colon" },
        { "--b1\r\n: no name\r\n\r\nx\r\n--b1--\r\n", "Invalid header line" },
        { Body(From, To, string.Concat(Enumerable.Range(0, 17).Select(i => $"X-H{i}: v\r\n")) + Text), "headers count limit 16 exceeded" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_bodies_are_400_with_the_reason(string body, string reason)
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var (status, answer) = await Post(fake, new RawContent(body, Multipart).Typed());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("Invalid form data", answer);
        Assert.Contains(reason, answer);
        Assert.Empty(fake.Messages);
    }

    /// <summary>A part whose header lines (CRLFs not counted) total <paramref name="headerChars"/> characters.</summary>
    private static string PartWithHeaders(int headerChars) =>
        "X-Big: " + new string('h', headerChars - 7 - "Content-Disposition: form-data; name=\"text\"".Length) + "\r\n" + Text;

    /// <summary>The sizes at which ASP.NET's MultipartReader, which the fake used before, stopped accepting
    /// (measured against it): 64 KB of preamble, of part headers, of epilogue.</summary>
    public static TheoryData<string, string, HttpStatusCode> Limits => new()
    {
        { "preamble of 64 KB", new string('p', 64 * 1024 - 2) + "\r\n" + Body(From, To, Text), HttpStatusCode.OK },
        { "preamble over 64 KB", new string('p', 64 * 1024 - 1) + "\r\n" + Body(From, To, Text), HttpStatusCode.RequestEntityTooLarge },
        { "headers of 64 KB - 1", Body(From, To, PartWithHeaders(64 * 1024 - 1)), HttpStatusCode.OK },
        { "headers of 64 KB", Body(From, To, PartWithHeaders(64 * 1024)), HttpStatusCode.RequestEntityTooLarge },
        { "epilogue of 64 KB", Body(From, To, Text) + new string('e', 64 * 1024), HttpStatusCode.OK },
        { "epilogue over 64 KB", Body(From, To, Text) + new string('e', 64 * 1024 + 1), HttpStatusCode.BadRequest },
    };

    [Theory]
    [MemberData(nameof(Limits))]
    public async Task Preamble_header_and_epilogue_limits_are_those_of_MultipartReader(string what, string body, HttpStatusCode expected)
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        var (status, answer) = await Post(fake, new RawContent(body, Multipart).Typed());
        Assert.True(expected == status, $"{what}: {(int)status} {answer}");
        Assert.Equal(expected == HttpStatusCode.OK ? 1 : 0, fake.Messages.Count);
    }

    [Theory]
    [InlineData(1024, HttpStatusCode.OK)]
    [InlineData(1025, HttpStatusCode.RequestEntityTooLarge)]
    public async Task A_part_may_be_exactly_the_size_limit(int size, HttpStatusCode expected)
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { MaxMessageSize = 1024 });
        var html = "Content-Disposition: form-data; name=\"html\"\r\n\r\n" + new string('x', size);
        var (status, _) = await Post(fake, new RawContent(Body(From, To, html), Multipart, knownLength: false).Typed());
        Assert.Equal(expected, status);
    }
}

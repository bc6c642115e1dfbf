using System.Text;
using AkkaMail.MailgunFake;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace AkkaMail.Mailgun.Tests;

/// <summary>The multipart/form-data body the client writes: parsed back with ASP.NET's MultipartReader, and sent
/// through the fake.</summary>
public sealed class MailgunFormBodyTests
{
    private sealed record Part(string Name, string? FileName, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    private static async Task<byte[]> Bytes(HttpContent content)
    {
        using var ms = new MemoryStream();
        await content.CopyToAsync(ms);
        return ms.ToArray();
    }

    private static string Boundary(HttpContent content) =>
        HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(content.Headers.ContentType!.ToString()).Boundary).ToString();

    private static async Task<List<Part>> Parse(HttpContent content)
    {
        var boundary = Boundary(content);
        var reader = new MultipartReader(boundary, new MemoryStream(await Bytes(content)));
        var parts = new List<Part>();
        while (await reader.ReadNextSectionAsync() is { } section)
        {
            var disposition = ContentDispositionHeaderValue.Parse(section.ContentDisposition);
            using var body = new MemoryStream();
            await section.Body.CopyToAsync(body);
            parts.Add(new Part(
                HeaderUtilities.UnescapeAsQuotedString(disposition.Name).ToString(),
                disposition.FileName.HasValue ? HeaderUtilities.UnescapeAsQuotedString(disposition.FileName).ToString() : null,
                section.Headers!.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body.ToArray()));
        }
        return parts;
    }

    private static MailgunMessage Full() => new()
    {
        From = "\"AkkaMail, Inc.\" <noreply@mg.akkamail.test>",
        To = ["Alice <alice@example.com>", "bob@example.com"],
        Cc = ["carol@example.com"],
        Bcc = ["dave@example.com"],
        ReplyTo = "support@akkamail.test",
        Subject = "Receipt",
        Text = "plain",
        Html = "<p>html</p>",
        Headers = new Dictionary<string, string> { ["X-Email-Id"] = "e-1" },
        Variables = new Dictionary<string, string> { ["email-id"] = "e-1" },
        Tags = ["receipt"],
        TestMode = true,
        Tracking = new MailgunTracking(Enabled: false, Clicks: MailgunClickTracking.Yes, Opens: true),
        DeliveryTime = new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero),
        Attachments = [new("a.pdf", "application/pdf", [1, 2, 3])],
    };

    /// <summary>Sends through a fresh fake and returns what it recorded.</summary>
    private static async Task<FakeSentMessage> SendThroughFake(MailgunMessage message)
    {
        await using var fake = await MailgunFakeServer.StartAsync();
        using var http = new HttpClient();
        var result = await new MailgunClient(http, fake.ClientOptions()).SendAsync(message, default);
        var accepted = Assert.IsType<MailgunSendResult.Accepted>(result);
        return fake.FindMessage(accepted.MessageId)!;
    }

    [Fact]
    public async Task Fields_come_in_the_documented_order_each_with_only_its_content_disposition()
    {
        using var content = MailgunClient.BuildContent(Full());
        var parts = await Parse(content);
        Assert.Equal(
            ["from", "to", "to", "cc", "bcc", "subject", "text", "html", "h:Reply-To", "h:X-Email-Id", "v:email-id", "o:tag",
             "o:testmode", "o:tracking", "o:tracking-clicks", "o:tracking-opens", "o:deliverytime", "attachment"],
            parts.Select(p => p.Name));
        Assert.Equal(
            ["\"AkkaMail, Inc.\" <noreply@mg.akkamail.test>", "Alice <alice@example.com>", "bob@example.com", "carol@example.com",
             "dave@example.com", "Receipt", "plain", "<p>html</p>", "support@akkamail.test", "e-1", "e-1", "receipt",
             "yes", "no", "yes", "yes", "Wed, 02 Jan 2030 03:04:05 +0000"],
            parts.SkipLast(1).Select(p => p.Text));
        Assert.All(parts.SkipLast(1), p => Assert.Equal(["Content-Disposition"], p.Headers.Keys));
        Assert.Contains("Content-Disposition: form-data; name=\"from\"\r\n", Encoding.UTF8.GetString(await Bytes(content)));
    }

    [Fact]
    public async Task Content_length_equals_the_bytes_written_and_the_bytes_received()
    {
        var messages = new[]
        {
            Full(),
            Full() with { Subject = "Ünïcödé é 🎉", Text = new string('é', 10_000), Headers = new Dictionary<string, string> { ["X-\"Quoted\"\r\n"] = "\\" } },
            new MailgunMessage { From = "a@mg.akkamail.test", To = ["b@example.com"], Text = "" },
        };
        foreach (var message in messages)
        {
            using var content = MailgunClient.BuildContent(message);
            Assert.Equal((await Bytes(content)).Length, content.Headers.ContentLength);
        }
        var sent = await SendThroughFake(messages[1]);
        using var again = MailgunClient.BuildContent(messages[1]);
        Assert.Equal(again.Headers.ContentLength, sent.Size);
        Assert.Equal(messages[1].Text, sent.Text); // 20 KB of UTF-8: more than the fake's first value buffer
    }

    [Fact]
    public void Every_message_gets_its_own_random_boundary()
    {
        using var a = MailgunClient.BuildContent(Full());
        using var b = MailgunClient.BuildContent(Full());
        Assert.NotEqual(Boundary(a), Boundary(b));
        Assert.Equal("multipart/form-data", a.Headers.ContentType!.MediaType);
        Assert.Equal($"\"{Boundary(a)}\"", a.Headers.ContentType.Parameters.Single(p => p.Name == "boundary").Value);
    }

    [Fact]
    public async Task Non_ascii_values_names_and_filenames_round_trip_through_the_fake()
    {
        var message = new MailgunMessage
        {
            From = "Élodie Dupré <elodie@mg.akkamail.test>",
            To = ["José <jose@example.com>"],
            Subject = "Café — 🎉 naïve",
            Text = "é\r\nline two 😀\u00a0end",
            Html = "<p>日本語 🎉</p>",
            Headers = new Dictionary<string, string> { ["X-Ünï"] = "välue ✓" },
            Variables = new Dictionary<string, string> { ["prénom"] = "Zoë 🐱" },
            Tags = ["été"],
            Attachments = [new("résumé 📄.txt", "text/plain", Encoding.UTF8.GetBytes("ça va"))],
        };

        var sent = await SendThroughFake(message);

        Assert.Equal(message.From, sent.From);
        Assert.Equal(message.To, sent.To);
        Assert.Equal(message.Subject, sent.Subject);
        Assert.Equal(message.Text, sent.Text);
        Assert.Equal(message.Html, sent.Html);
        Assert.Equal("välue ✓", sent.Headers["X-Ünï"]);
        Assert.Equal("Zoë 🐱", sent.Variables["prénom"]);
        Assert.Equal(["été"], sent.Tags);
        var file = Assert.Single(sent.Attachments);
        Assert.Equal("résumé 📄.txt", file.FileName);
        Assert.Equal(Encoding.UTF8.GetBytes("ça va"), file.Content);
    }

    [Fact]
    public async Task Quotes_and_line_breaks_in_names_and_filenames_are_escaped_and_cannot_add_headers()
    {
        const string evilName = "X-Evil\"; filename=\"x.exe\r\nContent-Type: text/html\r\n\r\nbody";
        const string evilFile = "a\".txt\r\nContent-Type: text/html\r\nX-Injected: 1";
        var message = new MailgunMessage
        {
            From = "a@mg.akkamail.test",
            To = ["b@example.com"],
            Text = "x",
            Headers = new Dictionary<string, string> { [evilName] = "v" },
            Attachments =
            [
                new(evilFile, "application/pdf", [1, 2]),
                new("back\\slash\\", "text/plain\r\nX-Injected: 1", [3]),
            ],
        };

        using var content = MailgunClient.BuildContent(message);
        var parts = await Parse(content);

        Assert.Equal(["from", "to", "text", "h:X-Evil%22; filename=%22x.exe%0D%0AContent-Type: text/html%0D%0A%0D%0Abody", "attachment", "attachment"],
            parts.Select(p => p.Name));
        Assert.Null(parts[3].FileName);
        Assert.Equal("v", parts[3].Text);
        Assert.Equal(["Content-Disposition"], parts[3].Headers.Keys);
        Assert.Equal("a%22.txt%0D%0AContent-Type: text/html%0D%0AX-Injected: 1", parts[4].FileName);
        Assert.Equal("application/pdf", parts[4].Headers["Content-Type"]);
        Assert.Equal("back\\slash\\", parts[5].FileName);
        Assert.Equal("application/octet-stream", parts[5].Headers["Content-Type"]);
        Assert.All(parts.Skip(4), p => Assert.Equal(["Content-Disposition", "Content-Type"], p.Headers.Keys.Order()));

        var sent = await SendThroughFake(message);
        Assert.Equal("v", sent.Headers["X-Evil%22; filename=%22x.exe%0D%0AContent-Type: text/html%0D%0A%0D%0Abody"]);
        Assert.Collection(sent.Attachments,
            a => { Assert.Equal(parts[4].FileName, a.FileName); Assert.Equal("application/pdf", a.ContentType); Assert.Equal([1, 2], a.Content); },
            a => { Assert.Equal("back\\slash\\", a.FileName); Assert.Equal("application/octet-stream", a.ContentType); Assert.Equal([3], a.Content); });
    }

    [Fact]
    public async Task Attachments_keep_their_bytes_and_content_type()
    {
        var everyByte = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var boundaryLike = Encoding.ASCII.GetBytes("\r\n--not-the-boundary--\r\n");
        var big = new byte[300_000];
        new Random(7).NextBytes(big);
        var message = new MailgunMessage
        {
            From = "a@mg.akkamail.test",
            To = ["b@example.com"],
            Html = "<p>x</p>",
            Attachments =
            [
                new("bytes.bin", "application/octet-stream", everyByte),
                new("notes.txt", "text/plain; charset=utf-8", boundaryLike),
                new("empty.dat", "application/x-empty", []),
                new("big.jpg", "image/jpeg", big),
            ],
        };

        var sent = await SendThroughFake(message);

        Assert.Equal(message.Attachments.Select(a => (a.FileName, a.ContentType)), sent.Attachments.Select(a => (a.FileName, a.ContentType)));
        for (var i = 0; i < message.Attachments.Count; i++)
            Assert.Equal(message.Attachments[i].Content, sent.Attachments[i].Content);
    }
}

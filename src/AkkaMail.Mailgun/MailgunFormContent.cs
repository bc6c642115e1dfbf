using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace AkkaMail.Mailgun;

/// <summary>The multipart/form-data body of one Mailgun send call, written straight into the request stream.
/// Same fields, same order and same values as <see cref="MultipartFormDataContent"/> with one part per field, without
/// its per-part header objects and string buffers (they were a quarter of the service's CPU per email).
/// Names and filenames are UTF-8 quoted-strings escaped as browsers do (RFC 7578, WHATWG): <c>"</c>, CR and LF become
/// <c>%22</c>, <c>%0D</c>, <c>%0A</c>, so no value can end the quoted-string or start a header; <c>\</c> is sent as the
/// quoted-pair <c>\\</c> so that parsers honouring quoted-pairs still find the closing quote.</summary>
public sealed class MailgunFormContent : HttpContent
{
    private const string FallbackContentType = "application/octet-stream";
    private static readonly SearchValues<char> NeedsEscaping = SearchValues.Create("\"\r\n\\");

    private readonly MailgunMessage _message;
    private readonly string[] _attachmentTypes;
    private readonly int _textBytes;
    private readonly long _length;

    public MailgunFormContent(MailgunMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        _message = message;
        Boundary = Guid.NewGuid().ToString();
        _attachmentTypes = message.Attachments.Count == 0 ? [] : message.Attachments.Select(a => SafeContentType(a.ContentType)).ToArray();
        // Not parsed here: a MediaTypeHeaderValue per message is exactly the kind of garbage this class avoids.
        Headers.TryAddWithoutValidation("Content-Type", $"multipart/form-data; boundary=\"{Boundary}\"");
        var measure = new FormWriter(Boundary, [], payloads: null);
        Layout(ref measure);
        _textBytes = measure.TextBytes;
        _length = measure.TextBytes + measure.PayloadBytes;
    }

    /// <summary>Random per message (a GUID, as <see cref="MultipartContent"/> uses).</summary>
    public string Boundary { get; }

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        // Rented per serialisation, not per content: the handler may still be writing the body after the caller
        // disposed the content (e.g. an early 413), and a pooled buffer must never be shared with another message.
        var buffer = ArrayPool<byte>.Shared.Rent(_textBytes);
        try
        {
            var payloads = _message.Attachments.Count == 0 ? null : new List<(int At, byte[] Bytes)>(_message.Attachments.Count);
            var end = WriteText(buffer, payloads);
            var from = 0;
            foreach (var (at, bytes) in payloads ?? [])
            {
                await stream.WriteAsync(buffer.AsMemory(from, at - from), cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                from = at;
            }
            await stream.WriteAsync(buffer.AsMemory(from, end - from), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes everything but the attachment bytes into <paramref name="buffer"/>; <paramref name="payloads"/>
    /// gets where each attachment's bytes go. Returns the bytes written.</summary>
    private int WriteText(byte[] buffer, List<(int At, byte[] Bytes)>? payloads)
    {
        var writer = new FormWriter(Boundary, buffer, payloads);
        Layout(ref writer);
        return writer.TextBytes;
    }

    /// <summary>The body, part by part: measured once for Content-Length and written with the same code.</summary>
    private void Layout(ref FormWriter w)
    {
        var m = _message;
        w.Begin();
        w.Field("from", m.From);
        foreach (var a in m.To) w.Field("to", a);
        foreach (var a in m.Cc) w.Field("cc", a);
        foreach (var a in m.Bcc) w.Field("bcc", a);
        if (m.Subject is not null) w.Field("subject", m.Subject);
        if (m.Text is not null) w.Field("text", m.Text);
        if (m.Html is not null) w.Field("html", m.Html);
        if (!string.IsNullOrEmpty(m.ReplyTo)) w.Field("h:Reply-To", m.ReplyTo);
        foreach (var (name, value) in m.Headers) w.Field("h:", name, value);
        foreach (var (name, value) in m.Variables) w.Field("v:", name, value);
        foreach (var tag in m.Tags) w.Field("o:tag", tag);
        if (m.TestMode) w.Field("o:testmode", "yes");
        if (m.Tracking is { } t)
        {
            if (t.Enabled is { } e) w.Field("o:tracking", YesNo(e));
            if (t.Clicks is { } c) w.Field("o:tracking-clicks", c switch { MailgunClickTracking.Yes => "yes", MailgunClickTracking.HtmlOnly => "htmlonly", _ => "no" });
            if (t.Opens is { } o) w.Field("o:tracking-opens", YesNo(o));
        }
        if (m.DeliveryTime is { } when) w.Field("o:deliverytime", MailgunClient.ToRfc2822(when));
        for (var i = 0; i < m.Attachments.Count; i++)
            w.File("attachment", m.Attachments[i].FileName, _attachmentTypes[i], m.Attachments[i].Content);
        w.End();
    }

    private static string YesNo(bool b) => b ? "yes" : "no";

    /// <summary>The attachment's media type as a valid header value (normalised like <see cref="MediaTypeHeaderValue"/>
    /// prints it), or application/octet-stream: a caller's string must not be able to add header lines.</summary>
    private static string SafeContentType(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? parsed.ToString() : FallbackContentType;

    /// <summary>Writes the body's bytes, or only counts them when its buffer is empty.</summary>
    private ref struct FormWriter(string boundary, Span<byte> buffer, List<(int At, byte[] Bytes)>? payloads)
    {
        private readonly Span<byte> _buffer = buffer;
        private readonly bool _measuring = buffer.IsEmpty;

        /// <summary>Bytes of framing, headers and text values (what goes through the buffer).</summary>
        public int TextBytes { get; private set; }
        /// <summary>Bytes of attachment content (written from the caller's arrays).</summary>
        public long PayloadBytes { get; private set; }

        public void Begin()
        {
            Ascii("--"u8);
            Utf8(boundary);
        }

        public void Field(string name, string value) => Field("", name, value);

        public void Field(string prefix, string name, string value)
        {
            StartPart(prefix, name);
            Ascii("\"\r\n\r\n"u8);
            Utf8(value);
            EndPart();
        }

        public void File(string name, string fileName, string contentType, byte[] content)
        {
            StartPart("", name);
            Ascii("\"; filename=\""u8);
            Quoted(fileName);
            Ascii("\"\r\nContent-Type: "u8);
            Utf8(contentType);
            Ascii("\r\n\r\n"u8);
            if (_measuring) PayloadBytes += content.Length;
            else payloads!.Add((TextBytes, content));
            EndPart();
        }

        public void End() => Ascii("--\r\n"u8);

        private void StartPart(string prefix, string name)
        {
            Ascii("\r\nContent-Disposition: form-data; name=\""u8);
            Quoted(prefix);
            Quoted(name);
        }

        private void EndPart()
        {
            Ascii("\r\n--"u8);
            Utf8(boundary);
        }

        private void Ascii(ReadOnlySpan<byte> bytes)
        {
            if (!_measuring) bytes.CopyTo(_buffer[TextBytes..]);
            TextBytes += bytes.Length;
        }

        private void Utf8(ReadOnlySpan<char> text) =>
            TextBytes += _measuring ? Encoding.UTF8.GetByteCount(text) : Encoding.UTF8.GetBytes(text, _buffer[TextBytes..]);

        private void Quoted(ReadOnlySpan<char> text)
        {
            int special;
            while ((special = text.IndexOfAny(NeedsEscaping)) >= 0)
            {
                Utf8(text[..special]);
                Ascii(text[special] switch { '"' => "%22"u8, '\r' => "%0D"u8, '\n' => "%0A"u8, _ => "\\\\"u8 });
                text = text[(special + 1)..];
            }
            Utf8(text);
        }
    }
}

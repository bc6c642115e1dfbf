using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace AkkaMail.MailgunFake;

/// <summary>The fields and files of one send call. Field names compare case-insensitively and keep the first
/// spelling seen; repeated fields keep every value, in order (as ASP.NET's form collection does).</summary>
internal sealed class ReceivedForm
{
    public Dictionary<string, List<string>> Fields { get; } = new(StringComparer.OrdinalIgnoreCase);
    public List<(string Name, FakeAttachment File)> Files { get; } = [];

    public void Add(string name, string value)
    {
        if (!Fields.TryGetValue(name, out var values)) Fields[name] = values = new List<string>(1);
        values.Add(value);
    }
}

/// <summary>Reads a send call's body, with the limits ASP.NET's form reader had here. Throws
/// <see cref="InvalidDataException"/> for malformed bodies and exceeded limits.</summary>
internal static class FakeFormReader
{
    private const int ValueCountLimit = 100_000;
    private const int KeyLengthLimit = 16 * 1024;
    private const int HeadersLengthLimit = 64 * 1024;
    private const int HeadersCountLimit = 16;
    private const int BoundaryLengthLimit = 70;
    private const int InitialChunkedBuffer = 16 * 1024;

    public static async Task<ReceivedForm> ReadAsync(HttpRequest request, long maxSectionBytes, CancellationToken ct)
    {
        var contentType = MediaTypeHeaderValue.Parse(request.ContentType);
        var form = new ReceivedForm();
        if (!contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            // application/x-www-form-urlencoded: only raw test requests send it, so the framework's reader will do.
            var reader = new FormReader(request.Body, TextEncoding(contentType))
            {
                ValueCountLimit = ValueCountLimit,
                KeyLengthLimit = KeyLengthLimit,
                ValueLengthLimit = int.MaxValue,
            };
            foreach (var (name, values) in await reader.ReadFormAsync(ct).ConfigureAwait(false))
                foreach (var value in values)
                    form.Add(name, value ?? "");
            return form;
        }

        var boundary = Boundary(contentType);
        // The whole body in one pooled array, then a synchronous parse over it: no buffer, task or string per line.
        // Kestrel's MaxRequestBodySize (set by MailgunFakeServer) bounds what this buffer can grow to.
        using var body = new PooledBuffer(InitialBodyBuffer(request.ContentLength));
        var length = await body.ReadToEndAsync(request.Body, ct).ConfigureAwait(false);
        ParseMultipart(body.Bytes.AsSpan(0, length), boundary, maxSectionBytes, form);
        return form;
    }

    /// <summary>Room for the whole body plus the final zero-byte read when its length is announced (the caller
    /// has refused anything over its size limit already), so the buffer never grows; a guess for a chunked body.</summary>
    private static int InitialBodyBuffer(long? contentLength) =>
        contentLength is { } announced ? (int)Math.Clamp(announced + 1, 1, Array.MaxLength) : InitialChunkedBuffer;

    /// <summary>Parses a multipart/form-data body (RFC 2046 §5.1.1, RFC 7578) into <paramref name="form"/>.
    /// Limits and the order of their checks are those of ASP.NET's MultipartReader as the fake used it (measured
    /// against it): a preamble, a part's header lines or an epilogue over <see cref="HeadersLengthLimit"/>, more than
    /// <see cref="HeadersCountLimit"/> header names in a part, a part body over <paramref name="maxSectionBytes"/>.
    /// The caller answers 413 when the message says "length limit" (so an oversize preamble or header block is 413,
    /// as it was), else 400. One deliberate difference: a delimiter is a whole line, as RFC 2046 has it, where
    /// MultipartReader took any CRLF "--boundary" for one and dropped the rest of its line (<c>--boundaryX</c>).</summary>
    private static void ParseMultipart(ReadOnlySpan<byte> body, string boundary, long maxSectionBytes, ReceivedForm form)
    {
        // CRLF "--" boundary; the boundary has at most 70 characters (checked), 3 UTF-8 bytes each at worst.
        Span<byte> delimiterBytes = stackalloc byte[4 + 3 * BoundaryLengthLimit];
        "\r\n--"u8.CopyTo(delimiterBytes);
        var crlfDashBoundary = delimiterBytes[..(4 + Encoding.UTF8.GetBytes(boundary, delimiterBytes[4..]))];

        // The first delimiter may open the body; otherwise it follows a preamble, at the start of a line.
        int first, position;
        bool closed;
        if (body.StartsWith(crlfDashBoundary[2..]) && IsDelimiterTail(body, crlfDashBoundary.Length - 2, out position, out closed))
            first = 0;
        else if (FindDelimiter(body, 0, crlfDashBoundary, out position, out closed) is var at and >= 0)
            first = at + 2; // the preamble's last CRLF belongs to the delimiter
        else
            first = -1;
        // Without any delimiter, MultipartReader ran dry (and threw) with the last "--boundary--"-length bytes unread.
        var preamble = first >= 0 ? first : body.Length - (crlfDashBoundary.Length - 2 + 2);
        if (preamble > HeadersLengthLimit) throw new InvalidDataException($"Multipart body length limit {HeadersLengthLimit} exceeded.");
        if (first < 0) throw Truncated();

        var sections = 0;
        while (!closed)
        {
            var headers = ReadHeaders(body, ref position);
            if (++sections > ValueCountLimit) throw new InvalidDataException($"Form value count limit {ValueCountLimit} exceeded.");
            var end = FindDelimiter(body, position, crlfDashBoundary, out var next, out closed);
            var content = body[position..(end < 0 ? body.Length : end)];

            // As MultipartReader did: the disposition is judged first, then the body's size, then whether it ended.
            var name = headers.Disposition.Joined is null ? PlainFieldName(headers.Disposition.Raw) : null;
            var isFile = false;
            string? fileName = null;
            if (name is null)
            {
                var dispositionText = headers.Disposition.Text;
                if (!ContentDispositionHeaderValue.TryParse(dispositionText, out var disposition))
                    throw new InvalidDataException("Form section has invalid Content-Disposition value: " + dispositionText);
                name = Unquote(disposition.Name);
                if (disposition.IsFileDisposition())
                {
                    isFile = true;
                    fileName = disposition.FileNameStar.HasValue ? disposition.FileNameStar.ToString() : Unquote(disposition.FileName);
                }
                else if (!disposition.IsFormDisposition())
                {
                    name = null; // other dispositions are skipped, as ASP.NET does
                }
            }
            if (content.Length > maxSectionBytes) throw new InvalidDataException($"Multipart body length limit {maxSectionBytes} exceeded.");
            if (end < 0) throw Truncated();

            if (isFile)
                form.Files.Add((name!, new FakeAttachment(fileName!, headers.ContentType.Text ?? "application/octet-stream", content.ToArray())));
            else if (name is not null)
                form.Add(name, TextEncoding(headers.ContentType.Text).GetString(content));
            position = next;
        }
        // The epilogue is ignored, up to the limit MultipartReader drained it with.
        if (body.Length - position > HeadersLengthLimit)
            throw new InvalidDataException($"The stream exceeded the data limit {HeadersLengthLimit}.");
    }

    private static InvalidDataException Truncated() =>
        new("Unexpected end of the multipart body: a boundary delimiter or the closing one is missing.");

    /// <summary>The index of the next delimiter (CRLF "--" boundary, then what <see cref="IsDelimiterTail"/>
    /// accepts) at or after <paramref name="from"/>, or -1; <paramref name="after"/> is where the part or epilogue
    /// after it starts. A line like <c>--boundaryX</c>, or a mere prefix of the boundary, is content.</summary>
    private static int FindDelimiter(ReadOnlySpan<byte> body, int from, ReadOnlySpan<byte> crlfDashBoundary, out int after, out bool closed)
    {
        while (body[from..].IndexOf(crlfDashBoundary) is var found and >= 0)
        {
            var at = from + found;
            if (IsDelimiterTail(body, at + crlfDashBoundary.Length, out after, out closed)) return at;
            from = at + 1;
        }
        after = body.Length;
        closed = false;
        return -1;
    }

    /// <summary>Whether the bytes at <paramref name="position"/>, right after a <c>--boundary</c>, complete a
    /// delimiter line: optional transport padding (spaces and tabs, RFC 2046) and CRLF; or, for the close
    /// delimiter, "--", padding, then CRLF or the end of the body.</summary>
    private static bool IsDelimiterTail(ReadOnlySpan<byte> body, int position, out int after, out bool closed)
    {
        var rest = body[position..];
        closed = rest.StartsWith("--"u8);
        if (closed) rest = rest[2..];
        rest = rest.TrimStart(" \t"u8);
        after = rest.IsEmpty ? body.Length : body.Length - rest.Length + 2;
        return rest.StartsWith("\r\n"u8) || (closed && rest.IsEmpty);
    }

    /// <summary>A part's header block, up to and including its empty line; <paramref name="position"/> moves to
    /// the part's body. Only Content-Disposition and Content-Type are kept, as raw bytes unless repeated.</summary>
    private static PartHeaders ReadHeaders(ReadOnlySpan<byte> body, ref int position)
    {
        var headers = new PartHeaders();
        var blockStart = position;
        var headerBytes = 0;
        var lines = 0;
        HashSet<string>? names = null;
        while (true)
        {
            var lineLength = body[position..].IndexOf("\r\n"u8);
            if (lineLength < 0) throw Truncated();
            var line = body.Slice(position, lineLength);
            position += lineLength + 2;
            if (line.IsEmpty) return headers;

            // MultipartReader read each line with what was left of the limit, and the CR before LF counted.
            headerBytes += lineLength;
            if (headerBytes + 1 > HeadersLengthLimit) throw new InvalidDataException($"Multipart headers length limit {HeadersLengthLimit} exceeded.");
            var colon = line.IndexOf((byte)':');
            if (colon <= 0) throw new InvalidDataException("Invalid header line: " + Encoding.UTF8.GetString(line));
            var name = line[..colon]; // not trimmed: "Content-Type :" was another header to MultipartReader too
            var value = line[(colon + 1)..].Trim(AsciiWhitespace);

            // The limit counts distinct names, case-insensitively; a set is needed only past that many lines.
            if (++lines > HeadersCountLimit)
            {
                if (names is null) names = HeaderNames(body[blockStart..position]);
                else names.Add(Encoding.UTF8.GetString(name));
                if (names.Count > HeadersCountLimit) throw new InvalidDataException($"Multipart headers count limit {HeadersCountLimit} exceeded.");
            }

            if (Ascii.EqualsIgnoreCase(name, "Content-Disposition"u8)) headers.Disposition.Add(value);
            else if (Ascii.EqualsIgnoreCase(name, "Content-Type"u8)) headers.ContentType.Add(value);
        }
    }

    /// <summary>The names of complete header lines (each with a colon past its start, checked).</summary>
    private static HashSet<string> HeaderNames(ReadOnlySpan<byte> lines)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var range in lines.Split("\r\n"u8))
            if (lines[range] is { IsEmpty: false } line)
                names.Add(Encoding.UTF8.GetString(line[..line.IndexOf((byte)':')]));
        return names;
    }

    /// <summary>The ASCII characters <see cref="string.Trim()"/> removes; trimmed before decoding, so that the
    /// usual header value decodes into its final string at once.</summary>
    private static ReadOnlySpan<byte> AsciiWhitespace => " \t\n\v\f\r"u8;

    /// <summary>A header value as MultipartReader gave it: decoded as UTF-8, then trimmed (a no-op after the ASCII
    /// trim unless the value has other Unicode white space at its ends).</summary>
    private static string DecodeHeaderValue(ReadOnlySpan<byte> value) => Encoding.UTF8.GetString(value).Trim();

    /// <summary>One part header's value: the raw bytes of its only occurrence or, when repeated, its decoded
    /// values joined with "," (the string a several-valued StringValues gave).</summary>
    private ref struct HeaderValue
    {
        public bool Present;
        public ReadOnlySpan<byte> Raw;
        public string? Joined;

        public void Add(ReadOnlySpan<byte> value)
        {
            if (Present)
            {
                Joined = (Joined ?? DecodeHeaderValue(Raw)) + "," + DecodeHeaderValue(value);
                return;
            }
            Present = true;
            Raw = value;
        }

        public readonly string? Text => Joined ?? (Present ? DecodeHeaderValue(Raw) : null);
    }

    private ref struct PartHeaders
    {
        public HeaderValue Disposition;
        public HeaderValue ContentType;
    }

    /// <summary>The name of a text field whose Content-Disposition is exactly <c>form-data; name="..."</c> with no
    /// quote or backslash inside, the shape nearly every part has, read straight from its bytes; null for anything
    /// else, which goes through the general header parser (its per-part NameValueHeaderValue lists were garbage).
    /// The slice between two ASCII quotes decodes exactly as that part of the decoded header would.</summary>
    private static string? PlainFieldName(ReadOnlySpan<byte> disposition)
    {
        var prefix = "form-data; name=\""u8;
        if (disposition.Length <= prefix.Length || disposition[^1] != (byte)'"'
            || !Ascii.EqualsIgnoreCase(disposition[..prefix.Length], prefix))
            return null;
        var name = disposition[prefix.Length..^1];
        return name.ContainsAny((byte)'"', (byte)'\\') ? null : Encoding.UTF8.GetString(name);
    }

    /// <summary>A pooled byte array that grows as needed; it owns exactly one rented array at any time, so an
    /// exception half-way through a read can never return an array to the pool twice.</summary>
    private sealed class PooledBuffer(int initialSize) : IDisposable
    {
        public byte[] Bytes { get; private set; } = ArrayPool<byte>.Shared.Rent(initialSize);

        /// <summary>Reads <paramref name="body"/> to its end into <see cref="Bytes"/>; returns the bytes read.</summary>
        public async Task<int> ReadToEndAsync(Stream body, CancellationToken ct)
        {
            var length = 0;
            int read;
            while ((read = await body.ReadAsync(Bytes.AsMemory(length), ct).ConfigureAwait(false)) > 0)
            {
                length += read;
                if (length == Bytes.Length) Grow(length);
            }
            return length;
        }

        private void Grow(int keep)
        {
            // Kestrel's request size limit stops a body long before this could overflow; the check is for clarity.
            if (Bytes.Length >= Array.MaxLength) throw new InvalidDataException("Multipart body length limit exceeded.");
            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * Bytes.Length, Array.MaxLength));
            Bytes.AsSpan(0, keep).CopyTo(larger);
            var old = Bytes;
            Bytes = larger;
            ArrayPool<byte>.Shared.Return(old);
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(Bytes);
    }

    private static string Boundary(MediaTypeHeaderValue contentType)
    {
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary);
        if (StringSegment.IsNullOrEmpty(boundary)) throw new InvalidDataException("Missing content-type boundary.");
        if (boundary.Length > BoundaryLengthLimit) throw new InvalidDataException($"Multipart boundary length limit {BoundaryLengthLimit} exceeded.");
        return boundary.ToString();
    }

    /// <summary>A quoted-string's content with its quoted-pairs (<c>\"</c>, <c>\\</c>) undone; a token as it is.</summary>
    private static string Unquote(StringSegment value) => HeaderUtilities.UnescapeAsQuotedString(value).ToString();

    private static Encoding TextEncoding(string? contentType) =>
        contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? Encoding.UTF8 : TextEncoding(parsed);

    /// <summary>The declared charset, UTF-8 by default; never UTF-7 (unsafe, and ASP.NET refuses it too).</summary>
    private static Encoding TextEncoding(MediaTypeHeaderValue contentType)
    {
        try
        {
            return contentType.Encoding is { CodePage: not 65000 } declared ? declared : Encoding.UTF8;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            // A charset .NET does not know or refuses (utf-7 throws here): read as UTF-8, as for no charset.
            return Encoding.UTF8;
        }
    }
}

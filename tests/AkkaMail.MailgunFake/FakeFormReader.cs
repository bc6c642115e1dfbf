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

/// <summary>Reads a send call's body section by section, with the limits ASP.NET's form reader had here.
/// Throws <see cref="InvalidDataException"/> for malformed bodies and exceeded limits.</summary>
internal static class FakeFormReader
{
    private const int ValueCountLimit = 100_000;
    private const int KeyLengthLimit = 16 * 1024;
    private const int HeadersLengthLimit = 64 * 1024;
    private const int BoundaryLengthLimit = 70;
    private const int InitialValueBuffer = 16 * 1024;

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

        var multipart = new MultipartReader(Boundary(contentType), request.Body)
        {
            HeadersLengthLimit = HeadersLengthLimit,
            BodyLengthLimit = maxSectionBytes,
        };
        // One buffer for every text value of the call: StreamReader per section was most of the fake's garbage.
        using var buffer = new PooledBuffer(InitialValueBuffer);
        var sections = 0;
        while (await multipart.ReadNextSectionAsync(ct).ConfigureAwait(false) is { } section)
        {
            if (++sections > ValueCountLimit) throw new InvalidDataException($"Form value count limit {ValueCountLimit} exceeded.");
            if (PlainFieldName(section.ContentDisposition) is { } fieldName)
            {
                form.Add(fieldName, await ReadTextAsync(section, buffer, ct).ConfigureAwait(false));
                continue;
            }
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
                throw new InvalidDataException("Form section has invalid Content-Disposition value: " + section.ContentDisposition);
            var name = Unquote(disposition.Name);
            if (disposition.IsFileDisposition())
            {
                var fileName = disposition.FileNameStar.HasValue ? disposition.FileNameStar.ToString() : Unquote(disposition.FileName);
                using var content = new MemoryStream();
                await section.Body.CopyToAsync(content, ct).ConfigureAwait(false);
                form.Files.Add((name, new FakeAttachment(fileName, section.ContentType ?? "application/octet-stream", content.ToArray())));
            }
            else if (disposition.IsFormDisposition())
            {
                form.Add(name, await ReadTextAsync(section, buffer, ct).ConfigureAwait(false));
            }
            // other dispositions are skipped, as ASP.NET does
        }
        return form;
    }

    private static async Task<string> ReadTextAsync(MultipartSection section, PooledBuffer buffer, CancellationToken ct)
    {
        var length = await buffer.ReadToEndAsync(section.Body, ct).ConfigureAwait(false);
        return TextEncoding(section.ContentType).GetString(buffer.Bytes, 0, length);
    }

    /// <summary>The name of a text field whose Content-Disposition is exactly <c>form-data; name="..."</c> with no
    /// quote or backslash inside, the shape nearly every part has; null for anything else, which goes through the
    /// general header parser (its per-part NameValueHeaderValue lists were the fake's largest remaining garbage).</summary>
    private static string? PlainFieldName(string? disposition)
    {
        const string prefix = "form-data; name=\"";
        if (disposition is null || disposition.Length <= prefix.Length || disposition[^1] != '"'
            || !disposition.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            return null;
        var name = disposition.AsSpan(prefix.Length, disposition.Length - prefix.Length - 1);
        return name.ContainsAny('"', '\\') ? null : name.ToString();
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
            var larger = ArrayPool<byte>.Shared.Rent(Bytes.Length * 2);
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
    private static Encoding TextEncoding(MediaTypeHeaderValue contentType) =>
        contentType.Encoding is { CodePage: not 65000 } declared ? declared : Encoding.UTF8;
}

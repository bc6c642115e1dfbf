using System.Security.Cryptography;

namespace AkkaMail.Api.Emails;

/// <summary>
/// Ids for new emails: UUIDv7 (RFC 9562) as 32 lower-case hex digits, increasing within this process. Lists are
/// ordered newest first by creation time, then id; two emails created in the same millisecond are ordered by id, so
/// the ids of one process must increase with the order they are minted in. <see cref="Guid.CreateVersion7()"/> fills the
/// 12 bits after the version with random bits; here they count the ids minted in the same millisecond (RFC 9562,
/// method 1), and a counter that overflows borrows the next millisecond.
/// </summary>
public static class EmailIds
{
    private static readonly Lock Gate = new();
    private static long _lastMs;
    private static int _counter;

    public static string New()
    {
        long ms;
        int counter;
        lock (Gate)
        {
            ms = Math.Max(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), _lastMs);
            if (ms == _lastMs && ++_counter > 0xFFF) { ms++; _counter = 0; }
            else if (ms != _lastMs) _counter = 0;
            _lastMs = ms;
            counter = _counter;
        }
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes[8..]);
        for (var i = 0; i < 6; i++) bytes[i] = (byte)(ms >> (8 * (5 - i)));
        bytes[6] = (byte)(0x70 | (counter >> 8));   // version 7, counter high bits
        bytes[7] = (byte)counter;
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F)); // variant 10
        return Convert.ToHexStringLower(bytes);
    }
}

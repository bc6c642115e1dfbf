using System.Security.Cryptography;
using System.Text;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// The Standard Webhooks signing scheme (https://www.standardwebhooks.com): headers <c>webhook-id</c>,
/// <c>webhook-timestamp</c> (Unix seconds) and <c>webhook-signature</c>, a space-separated list of
/// <c>v1,{base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))}</c>, one per secret that signs (two during a rotation's
/// overlap). A secret is <c>whsec_</c> + base64 of the key's bytes.
/// </summary>
public static class StandardWebhooks
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    public const string SecretPrefix = "whsec_";

    /// <summary>A new secret: 32 random bytes.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static byte[] KeyOf(string secret) =>
        Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);

    /// <summary>One <c>v1,…</c> signature.</summary>
    public static string Sign(string secret, string id, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(KeyOf(secret), Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));

    /// <summary>The <c>webhook-signature</c> header's value: one signature per secret.</summary>
    public static string SignatureHeaderValue(IEnumerable<string> secrets, string id, long timestamp, string body) =>
        string.Join(' ', secrets.Select(s => Sign(s, id, timestamp, body)));
}

using System.Security.Cryptography;
using System.Text;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Encrypts signing secrets at rest with AES-256-GCM (12-byte random nonce, 16-byte tag): a stolen database reveals no
/// secret without the key. The key is <c>OutboundWebhooks:SecretsKey</c> (base64 of 32 bytes, from the environment)
/// or, when that is not set, a file in the data folder created at first start, readable by the service's user alone.
/// Several instances sharing one MongoDB must share the key (set the setting).
/// </summary>
public sealed class WebhookSecretProtector
{
    private const string Version = "v1:";
    private readonly byte[] _key;

    public WebhookSecretProtector(byte[] key)
    {
        if (key.Length != 32) throw new ArgumentException("The key must be 32 bytes", nameof(key));
        _key = key;
    }

    public const string SettingKey = "OutboundWebhooks:SecretsKey";
    public const string KeyFileName = "webhook-secrets.key";

    /// <summary>The configured key, else the data folder's key file (created 0600 when missing).</summary>
    public static WebhookSecretProtector FromSettingOrFile(string? configuredKey, string dataPath)
    {
        if (!string.IsNullOrWhiteSpace(configuredKey)) return new WebhookSecretProtector(Convert.FromBase64String(configuredKey.Trim()));
        var path = Path.GetFullPath(Path.Combine(dataPath, KeyFileName));
        if (!File.Exists(path))
        {
            Hosting.PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
            try
            {
                using var file = Hosting.PrivateFiles.Open(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                file.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));
            }
            catch (IOException) when (File.Exists(path)) { /* created by a concurrent start: use it */ }
        }
        return new WebhookSecretProtector(Convert.FromBase64String(File.ReadAllText(path).Trim()));
    }

    /// <summary>Whether a configured value is a usable key (base64 of 32 bytes).</summary>
    public static bool IsValidKey(string value)
    {
        var bytes = new byte[64];
        return Convert.TryFromBase64String(value.Trim(), bytes, out var n) && n == 32;
    }

    public string Protect(string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var output = new byte[12 + plain.Length + 16];
        var nonce = output.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, 16);
        aes.Encrypt(nonce, plain, output.AsSpan(12, plain.Length), output.AsSpan(12 + plain.Length, 16));
        return Version + Convert.ToBase64String(output);
    }

    /// <exception cref="CryptographicException">Not encrypted with this key.</exception>
    public string Unprotect(string stored)
    {
        if (!stored.StartsWith(Version, StringComparison.Ordinal)) throw new CryptographicException("Unknown secret format");
        var data = Convert.FromBase64String(stored[Version.Length..]);
        if (data.Length < 28) throw new CryptographicException("Truncated secret");
        var plain = new byte[data.Length - 28];
        using var aes = new AesGcm(_key, 16);
        aes.Decrypt(data.AsSpan(0, 12), data.AsSpan(12, plain.Length), data.AsSpan(12 + plain.Length, 16), plain);
        return Encoding.UTF8.GetString(plain);
    }
}

using Microsoft.Extensions.Time.Testing;
using System.Text.Json.Nodes;

namespace AkkaMail.Mailgun.Tests;


public static class Samples
{
    public const string SymfonyKey = "key-0p6mqbf74lb20gzq9f4dhpn9rg3zyk26";
    public const string AnymailKey = "TEST_WEBHOOK_SIGNING_KEY";

    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Samples");
    public static byte[] Bytes(string file) => File.ReadAllBytes(Path.Combine(Dir, file));
    public static JsonObject Json(string file) => JsonNode.Parse(Bytes(file))!.AsObject();

    public static IEnumerable<string> SignedFiles =>
        Directory.GetFiles(Dir, "*.json").Select(Path.GetFileName).Where(f => !f!.StartsWith("mailgun-docs_", StringComparison.Ordinal)).Order()!;

    public static IEnumerable<string> EventDataFiles =>
        Directory.GetFiles(Dir, "mailgun-docs_*.json").Select(Path.GetFileName).Order()!;

    public static IEnumerable<string> AllFiles => Directory.GetFiles(Dir, "*.json").Select(Path.GetFileName).Order()!;

    public static string KeyFor(string file) => file.StartsWith("anymail_", StringComparison.Ordinal) ? AnymailKey : SymfonyKey;

    public static MailgunSignature Signature(string file)
    {
        var sig = Json(file)["signature"]!;
        return new MailgunSignature((string)sig["timestamp"]!, (string)sig["token"]!, (string)sig["signature"]!);
    }

    /// <summary>A clock set a few seconds after the sample's signature timestamp.</summary>
    public static FakeTimeProvider ClockFor(string file) =>
        new(DateTimeOffset.FromUnixTimeSeconds(long.Parse(Signature(file).Timestamp)).AddSeconds(3));
}

using Microsoft.Extensions.Time.Testing;
using System.Text;
using System.Text.Json.Nodes;

namespace AkkaMail.Mailgun.Tests;

/// <summary>The parser must never throw: ~10,000 hostile bodies, each through Parse, ParseEventData and the verifier.</summary>
public class WebhookParserFuzzTests
{
    [Fact]
    public async Task Ten_thousand_hostile_bodies_never_throw()
    {
        var random = new Random(20261127);
        var samples = Samples.AllFiles.Select(Samples.Bytes).ToArray();
        var bodies = new List<byte[]>();

        // 1. random bytes, of random lengths
        for (var i = 0; i < 2000; i++)
        {
            var b = new byte[random.Next(0, 300)];
            random.NextBytes(b);
            bodies.Add(b);
        }
        // 2. random printable/JSON-ish characters
        const string alphabet = "{}[]\":,0123456789.-+eEtruefalsnl \\/u\n\t";
        for (var i = 0; i < 1000; i++)
            bodies.Add(Encoding.UTF8.GetBytes(new string(Enumerable.Range(0, random.Next(1, 200)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray())));
        // 3. truncated samples
        for (var i = 0; i < 2000; i++)
        {
            var s = samples[random.Next(samples.Length)];
            bodies.Add(s[..random.Next(0, s.Length)]);
        }
        // 4. samples with random bytes flipped / inserted (including invalid UTF-8 inside strings)
        for (var i = 0; i < 2000; i++)
        {
            var s = (byte[])samples[random.Next(samples.Length)].Clone();
            for (var k = random.Next(1, 5); k > 0; k--) s[random.Next(s.Length)] = (byte)random.Next(256);
            bodies.Add(s);
        }
        // 5. structurally valid JSON with values of the wrong type at random places
        for (var i = 0; i < 3500; i++)
        {
            var node = JsonNode.Parse(samples[random.Next(samples.Length)])!;
            for (var k = random.Next(1, 4); k > 0; k--) Mutate(node, random);
            bodies.Add(Encoding.UTF8.GetBytes(node.ToJsonString()));
        }
        // 6. hand-picked nasties
        bodies.AddRange(Nasties().Select(Encoding.UTF8.GetBytes));
        bodies.Add([0xEF, 0xBB, 0xBF]);
        bodies.Add(Encoding.UTF8.GetBytes("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"\u00ff\",\"event\":\"x"));
        bodies.Add([.. Encoding.UTF8.GetBytes("{\"signature\":{\"timestamp\":\"1\",\"token\":\""), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("\",\"signature\":\"s\"},\"event-data\":{}}")]);

        Assert.True(bodies.Count >= 10_000, $"only {bodies.Count} bodies");
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey, new FakeTimeProvider(DateTimeOffset.UnixEpoch), TimeSpan.FromMinutes(5));
        int successes = 0, failures = 0;
        foreach (var body in bodies)
        {
            var result = MailgunWebhookParser.Parse(body);
            switch (result)
            {
                case MailgunWebhookParseResult.Success s:
                    successes++;
                    Assert.False(string.IsNullOrEmpty(s.Webhook.Event.Id));
                    Assert.False(string.IsNullOrEmpty(s.Webhook.Event.EventType));
                    _ = verifier.Verify(s.Webhook.Signature);
                    break;
                case MailgunWebhookParseResult.Failure f:
                    failures++;
                    Assert.False(string.IsNullOrEmpty(f.Error.Reason));
                    if (f.Signature is { } sig) _ = verifier.Verify(sig);
                    break;
                default:
                    Assert.Fail("null result");
                    break;
            }
            Assert.NotNull(MailgunWebhookParser.ParseEventData(body));
        }
        foreach (var body in bodies.Take(500))
            Assert.NotNull(await MailgunWebhookParser.ParseAsync(new MemoryStream(body), maxBytes: 100));
        Assert.True(successes > 100, $"successes={successes}");
        Assert.True(failures > 5000, $"failures={failures}");
    }

    private static IEnumerable<string> Nasties()
    {
        yield return "";
        yield return " ";
        yield return "null";
        yield return "0";
        yield return "\"string\"";
        yield return "{\"signature\":null,\"event-data\":null}";
        yield return new string('[', 100_000);
        yield return new string('[', 20) + new string(']', 20);
        yield return string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000);
        var sig = "\"signature\":{\"timestamp\":\"1661621710\",\"token\":\"t\",\"signature\":\"s\"}";
        yield return "{" + sig + ",\"event-data\":" + string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40) + "}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":1,\"user-variables\":" + string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40) + "}}";
        var huge = new string('x', 4 * 1024 * 1024);
        yield return "{" + sig + ",\"event-data\":{\"id\":\"" + huge + "\",\"event\":\"" + huge + "\",\"timestamp\":1,\"recipient\":\"" + huge + "\"}}";
        yield return "{\"signature\":{\"timestamp\":\"" + huge + "\",\"token\":\"" + huge + "\",\"signature\":\"" + huge + "\"},\"event-data\":{}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":" + new string('9', 10_000) + "}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":1e-400}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":NaN}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":\"Infinity\"}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":1,\"delivery-status\":{\"code\":99999999999999999999}}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"\\ud800\",\"event\":\"\\udfff\",\"timestamp\":1}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1,\"id\":\"dup\"}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1}} trailing";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1,}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1 /* c */}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1,\"message\":{\"headers\":{\"message-id\":\"<\"}}}}";
        yield return "{" + sig + ",\"event-data\":{\"id\":\"x\",\"event\":\"x\",\"timestamp\":1,\"message\":{\"headers\":{\"message-id\":\"<>\"}}}}";
    }

    private static void Mutate(JsonNode root, Random random)
    {
        // walk to a random container and replace one of its members with a value of a random type
        var node = root;
        for (var depth = random.Next(0, 4); depth > 0; depth--)
        {
            var children = Children(node).Where(c => c.Value is JsonObject or JsonArray).ToList();
            if (children.Count == 0) break;
            node = children[random.Next(children.Count)].Value!;
        }
        var all = Children(node).ToList();
        var replacement = RandomValue(random);
        switch (node)
        {
            case JsonObject o when all.Count > 0 && random.Next(5) > 0:
                o[(string)all[random.Next(all.Count)].Key] = replacement;
                break;
            case JsonObject o when all.Count > 0:
                o.Remove((string)all[random.Next(all.Count)].Key);
                break;
            case JsonArray a when a.Count > 0:
                a[random.Next(a.Count)] = replacement;
                break;
            case JsonArray a:
                a.Add(replacement);
                break;
        }
    }

    private static IEnumerable<KeyValuePair<object, JsonNode?>> Children(JsonNode node) => node switch
    {
        JsonObject o => o.Select(p => new KeyValuePair<object, JsonNode?>(p.Key, p.Value)),
        JsonArray a => a.Select((v, i) => new KeyValuePair<object, JsonNode?>(i, v)),
        _ => [],
    };

    private static JsonNode? RandomValue(Random random) => random.Next(12) switch
    {
        0 => null,
        1 => JsonValue.Create(random.Next()),
        2 => JsonValue.Create(-random.NextDouble() * 1e300),
        3 => JsonValue.Create(random.Next(2) == 0),
        4 => JsonValue.Create(new string('y', random.Next(0, 100_000))),
        5 => new JsonArray(JsonValue.Create(1), null, JsonValue.Create("s")),
        6 => new JsonObject { ["nested"] = new JsonObject { ["deeper"] = new JsonArray() } },
        7 => JsonValue.Create(""),
        8 => JsonValue.Create("<angle@brackets>"),
        9 => JsonValue.Create(decimal.MaxValue),
        10 => JsonValue.Create("1661621710"),
        _ => JsonValue.Create("\u0000\uffff\t"),
    };
}

using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Issue #16, item 6: control characters (NUL, VT, FF, NEL U+0085, U+2028, U+2029 and the other C0/C1 controls; TAB only
/// where it is legal white space) are refused in the subject, display names and custom header values, with a 400
/// naming the field.
/// </summary>
public sealed class ControlCharacterTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    public static readonly char[] Controls = ['\0', '\v', '\f', '\u0085', '\u2028', '\u2029', '\u0001', '\u001b', '\u007f', '\u009b'];

    /// <summary>Where a control character goes, and the field the 400 must name.</summary>
    private static readonly (string Field, Action<JsonObject, string> Put)[] Places =
    [
        ("subject", (b, c) => b["subject"] = $"Hello{c}world"),
        ("from", (b, c) => b["from"] = $"App{c}Name <app@example.com>"),
        ("to[0]", (b, c) => b["to"] = new JsonArray($"Bob{c}Smith <bob@example.com>")),
        ("cc[0]", (b, c) => b["cc"] = new JsonArray($"Carol{c} <carol@example.com>")),
        ("bcc[0]", (b, c) => b["bcc"] = new JsonArray($"\"Dan{c}\" <dan@example.com>")),
        ("replyTo", (b, c) => b["replyTo"] = $"Support{c}Desk <support@example.com>"),
        ("headers.X-Custom", (b, c) => b["headers"] = new JsonObject { ["X-Custom"] = $"value{c}more" }),
    ];

    private static JsonObject Valid() => new()
    {
        ["from"] = "App <app@example.com>", ["to"] = new JsonArray("bob@example.com"), ["subject"] = "s", ["text"] = "t",
    };

    [Fact]
    public async Task Each_control_character_in_each_field_is_a_400_naming_the_field()
    {
        using var client = fixture.Host.AdminClient();
        var failures = new List<string>();
        foreach (var c in Controls)
            foreach (var (field, put) in Places)
            {
                var body = Valid();
                put(body, c.ToString());
                var r = await client.PostJsonAsync("/api/emails", body);
                var problem = r.StatusCode == HttpStatusCode.BadRequest ? await r.ReadJsonAsync() : null;
                if (problem?["errors"]?[field] is null)
                    failures.Add($"U+{(int)c:X4} in {field}: {(int)r.StatusCode} {problem?["errors"]?.ToJsonString()}");
            }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task A_tab_in_the_subject_or_a_header_value_is_still_accepted()
    {
        using var client = fixture.Host.AdminClient();
        var body = Valid();
        body["subject"] = "Hello\tworld";
        body["headers"] = new JsonObject { ["X-Custom"] = "a\tb" };
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostJsonAsync("/api/emails", body)).StatusCode);
    }
}

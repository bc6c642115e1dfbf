using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The real process with <c>AkkaMail:LogFormat=json</c>: every console line is one JSON object, and the lines about a
/// POSTed email (its actor's, and the request log of its GET) carry its id as the <c>EmailId</c> property.
/// </summary>
public sealed class JsonLogTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "akkamail-jsonlog-" + Guid.NewGuid().ToString("N"));

    public JsonLogTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Json_log_lines_are_objects_and_an_emails_lines_carry_its_id()
    {
        var lines = new ConcurrentQueue<string>();
        var start = ServiceProcess.StartInfo(_dir, Path.Combine(_dir, "data"), ["--AkkaMail:LogFormat=json", "--AkkaMail:LogLevel=Information"]);

        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue(l); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue(l); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await EventuallyAsync(() => lines.Select(l => Regex.Match(l, @"http://127\.0\.0\.1:\d+")).FirstOrDefault(m => m.Success)?.Value,
                TimeSpan.FromSeconds(60), "the service did not say where it listens");
            var key = (await File.ReadAllTextAsync(Path.Combine(_dir, "data", "admin.key"))).Trim();
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var posted = await client.PostJsonAsync("/api/emails", Json.ValidEmail());
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            var id = (await posted.ReadJsonAsync())["id"]!.GetValue<string>();
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() is "sent" or "delivered", TimeSpan.FromSeconds(20));

            // The actor's lines, and the request log of the GET the wait made.
            await EventuallyAsync(() => Objects(lines).Count(o => EmailIdOf(o) == id) >= 2 ? "yes" : null,
                TimeSpan.FromSeconds(10), "fewer than two log lines carry the email's id");
            var objects = Objects(lines);
            Assert.Contains(objects, o => EmailIdOf(o) == id && o.TryGetProperty("@mt", out var mt) && mt.GetString()!.Contains("accepted"));
            Assert.Contains(objects, o => EmailIdOf(o) == id && o.TryGetProperty("RequestPath", out var path) && path.GetString() == $"/api/emails/{id}");
            // Every line the process wrote is one JSON object with a time and a template.
            Assert.All(lines, l =>
            {
                using var doc = JsonDocument.Parse(l);
                Assert.True(doc.RootElement.TryGetProperty("@t", out _), l);
                Assert.True(doc.RootElement.TryGetProperty("@mt", out _), l);
            });
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static List<JsonElement> Objects(IEnumerable<string> lines) =>
        lines.Select(l => { try { return JsonDocument.Parse(l).RootElement.Clone(); } catch (JsonException) { return default; } })
            .Where(e => e.ValueKind == JsonValueKind.Object).ToList();

    private static string? EmailIdOf(JsonElement o) =>
        o.TryGetProperty("EmailId", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static async Task<string> EventuallyAsync(Func<string?> probe, TimeSpan within, string failure)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (probe() is { } value) return value;
            await Task.Delay(100);
        }
        throw new TimeoutException(failure);
    }
}

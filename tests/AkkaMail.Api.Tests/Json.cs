using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AkkaMail.Api.Tests;

public static class Json
{
    public static async Task<JsonNode> ReadJsonAsync(this HttpResponseMessage r) =>
        JsonNode.Parse(await r.Content.ReadAsStringAsync()) ?? throw new InvalidOperationException("empty body");

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient c, string url, object body) =>
        c.PostAsJsonAsync(url, body, new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static object ValidEmail(string to = "alice@example.com") => new
    {
        from = "App <app@example.com>",
        to = new[] { to },
        subject = "Hello",
        text = "Hi there",
    };

    /// <summary>Polls GET /api/emails/{id} until the predicate holds or the time is up; returns the last body.</summary>
    public static async Task<JsonNode> WaitForEmailAsync(this HttpClient c, string id, Func<JsonNode, bool> until, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        JsonNode? last = null;
        while (DateTime.UtcNow < deadline)
        {
            var r = await c.GetAsync($"/api/emails/{id}");
            if (r.IsSuccessStatusCode)
            {
                last = await r.ReadJsonAsync();
                if (until(last)) return last;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"email {id} did not reach the expected state within {within}; last: {last?.ToJsonString()}");
    }
}

using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AkkaMail.IntegrationTests;

public static class Http
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static async Task<string> PostEmailAsync(this HttpClient c, string subject, string to = "alice@example.com")
    {
        var r = await c.PostAsJsonAsync("/api/emails", new { from = "App <app@example.com>", to = new[] { to }, subject, text = "Hi" }, Web);
        var body = await r.Content.ReadAsStringAsync();
        if ((int)r.StatusCode != 202) throw new InvalidOperationException($"POST /api/emails: {(int)r.StatusCode} {body}");
        return JsonNode.Parse(body)!["id"]!.GetValue<string>();
    }

    public static async Task<string?> StatusAsync(this HttpClient c, string id)
    {
        var r = await c.GetAsync($"/api/emails/{id}");
        if (!r.IsSuccessStatusCode) return null;
        return JsonNode.Parse(await r.Content.ReadAsStringAsync())!["status"]!.GetValue<string>();
    }

    /// <summary>Polls until every email is in one of the final states; returns id → status.</summary>
    public static async Task<Dictionary<string, string>> WaitForAllAsync(this HttpClient c, IReadOnlyCollection<string> ids,
        Func<string, bool> isFinal, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        var statuses = new Dictionary<string, string>();
        while (true)
        {
            foreach (var id in ids)
            {
                if (statuses.TryGetValue(id, out var s) && isFinal(s)) continue;
                statuses[id] = await c.StatusAsync(id) ?? "unknown";
            }
            if (statuses.Values.All(isFinal)) return statuses;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("not final in time: " + string.Join(", ",
                    statuses.Where(kv => !isFinal(kv.Value)).Take(10).Select(kv => $"{kv.Key}={kv.Value}")));
            await Task.Delay(200);
        }
    }
}

using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AkkaMail.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.IntegrationTests;

/// <summary>The real service on 127.0.0.1:0 with a temp data dir (a copy of the Api tests' helper, trimmed).</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private ServiceHost(WebApplication app, string dataPath, Uri baseAddress, string adminKey)
    {
        App = app;
        DataPath = dataPath;
        BaseAddress = baseAddress;
        AdminKey = adminKey;
    }

    public WebApplication App { get; }
    public string DataPath { get; }
    public Uri BaseAddress { get; }
    public string AdminKey { get; }
    public IServiceProvider Services => App.Services;

    public static async Task<ServiceHost> StartAsync(string? hoconOverrides = null,
        IEnumerable<string>? extraArgs = null, Action<WebApplicationBuilder>? configure = null)
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "akkamail-it-" + Guid.NewGuid().ToString("N"));
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            $"--AkkaMail:DataPath={dataPath}",
            "--AkkaMail:LogLevel=Warning",
            "--environment", "Testing",
        };
        if (hoconOverrides is not null) args.Add($"--AkkaMail:HoconOverrides={hoconOverrides}");
        if (extraArgs is not null) args.AddRange(extraArgs);
        var app = await AkkaMailApp.BuildAsync(args.ToArray(), configure);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var adminKey = (await File.ReadAllTextAsync(Path.Combine(dataPath, "admin.key"))).Trim();
        return new ServiceHost(app, dataPath, new Uri(address), adminKey);
    }

    public HttpClient AdminClient()
    {
        var c = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
        catch (ObjectDisposedException) { }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { }
    }
}

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

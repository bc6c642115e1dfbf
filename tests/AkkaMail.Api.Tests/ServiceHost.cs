using System.Net.Http.Headers;
using AkkaMail.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The real service on real HTTP: Kestrel on 127.0.0.1 with a random port, SQLite files in a temp folder
/// that is deleted on dispose. Every test class gets its own.
/// </summary>
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
    public string OutboxPath => Path.Combine(DataPath, "outbox");

    public static async Task<ServiceHost> StartAsync(string? dataPath = null, string? hoconOverrides = null,
        IEnumerable<string>? extraArgs = null, Action<WebApplicationBuilder>? configure = null)
    {
        dataPath ??= Path.Combine(Path.GetTempPath(), "akkamail-test-" + Guid.NewGuid().ToString("N"));
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

    public HttpClient Client(string? apiKey = null)
    {
        var c = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return c;
    }

    public HttpClient AdminClient() => Client(AdminKey);

    /// <summary>Stops the service and keeps its data (for restart tests).</summary>
    public async Task StopAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (ObjectDisposedException) { }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { }
    }
}

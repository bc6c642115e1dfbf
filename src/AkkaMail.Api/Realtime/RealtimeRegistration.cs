using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Api.Realtime;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.FileProviders;

namespace AkkaMail.Api.Realtime;

/// <summary>Real-time status (SignalR hub, server-sent events) and the dashboard, registered in three calls.</summary>
public static class RealtimeRegistration
{
    public static IServiceCollection AddRealtime(this IServiceCollection services)
    {
        services.AddSignalR();
        services.AddSingleton<EmailStatusFeed>();
        services.AddSingleton<KeyConnections>();
        return services;
    }

    /// <summary>The actor that feeds the hub and the SSE streams from the event stream.</summary>
    public static AkkaConfigurationBuilder WithStatusBroadcaster(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var hub = sp.GetRequiredService<IHubContext<EmailHub>>();
        var feed = sp.GetRequiredService<EmailStatusFeed>();
        var clusterMode = sp.GetService<AkkaMail.Hosting.AkkaMailOptions>()?.Cluster.Enabled ?? false;
        return builder.WithActors((system, registry, _) =>
        {
            var broadcaster = system.ActorOf(Props.Create(() => new StatusBroadcasterActor(hub, feed, clusterMode)), StatusBroadcasterActor.Name);
            registry.Register<StatusBroadcasterActor>(broadcaster);
        });
    }

    /// <summary>The hub at /hubs/emails, the SSE stream, and the dashboard's static files at / (anonymous).</summary>
    public static WebApplication MapRealtime(this WebApplication app)
    {
        var files = new StaticFileOptions { FileProvider = DashboardFiles(app.Environment) };
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files.FileProvider });
        app.UseStaticFiles(files);
        app.MapHub<EmailHub>(EmailHub.Path);
        // A literal segment outranks /api/emails/{id}, so "stream" is never read as an email id.
        app.MapGet(EmailStatusStream.Path, EmailStatusStream.StreamAsync).RequireApiKey().WithName("StreamEmailStatus")
            .Produces<EmailStatusMessage>(StatusCodes.Status200OK, "text/event-stream").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Server-sent events: an emailStatus event (data: the message) after every change of your emails, or of one (?id=).");
        return app;
    }

    /// <summary>
    /// wwwroot as published (next to the binaries), else the content root's, else where the build's static web
    /// assets manifest says the project's wwwroot is (dotnet run from elsewhere, tests). Served whatever the
    /// environment, unlike ASP.NET's own use of that manifest, which is for Development only.
    /// </summary>
    private static IFileProvider DashboardFiles(IWebHostEnvironment env)
    {
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, "wwwroot") };
        if (env.WebRootPath is { } webRoot) candidates.Add(webRoot);
        var manifest = Path.Combine(AppContext.BaseDirectory, $"{typeof(EmailHub).Assembly.GetName().Name}.staticwebassets.runtime.json");
        if (File.Exists(manifest))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
                if (doc.RootElement.TryGetProperty("ContentRoots", out var roots))
                    candidates.AddRange(roots.EnumerateArray().Select(r => r.GetString()).OfType<string>());
            }
            catch (JsonException) { }
        }
        var found = candidates.FirstOrDefault(c => File.Exists(Path.Combine(c, "index.html")));
        return found is null ? new NullFileProvider() : new PhysicalFileProvider(found);
    }
}

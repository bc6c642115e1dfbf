using Akka.Hosting;
using Akka.Logger.Serilog;
using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;
using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.Mailgun.Provider;
using AkkaMail.Smtp.Provider;
using AkkaMail.Providers;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using AkkaMail.Users;
using AkkaMail.Suppressions;
using AkkaMail.Api.Users;
using AkkaMail.Api.Suppressions;
using AkkaMail.Api.Templates;
using Scalar.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Serilog;
using Serilog.Events;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Api.Realtime;
using AkkaMail.Api.Webhooks;
using AkkaMail.Api.OutboundWebhooks;

namespace AkkaMail.Api;

/// <summary>Builds the service: used by Program and by the tests, which start it on a random port.</summary>
public static class AkkaMailApp
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    public static async Task<WebApplication> BuildAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Loopback port 5080 unless told otherwise (--urls, ASPNETCORE_URLS or "Urls" in configuration).
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"])) builder.WebHost.UseUrls(DefaultUrl);
        // One configuration, read and validated before anything starts: a wrong or missing setting ends the process with
        // a message naming its key (OptionsValidationException, see Program).
        var options = builder.Services.AddAkkaMailOptions(builder.Configuration, MailgunProviderRegistration.CheckSettings,
            SmtpProviderRegistration.CheckSettings);
        var hocon = AkkaMailConfiguration.LoadKnobs(options, builder.Configuration);
        var settings = AkkaMailSettings.FromConfig(hocon);
        AkkaMail.Hosting.PrivateFiles.CreateDirectory(options.DataPath);
        // Held while the service runs (disposed with the container): the rebuild verb refuses to run beside it.
        var dataLock = Operations.DataFolderLock.TryAcquire(options.DataPath)
            ?? throw new InvalidOperationException(
                $"Another AkkaMail process (the service, or a read-model rebuild) is using {Path.GetFullPath(options.DataPath)}.");
        builder.Services.AddSingleton(_ => dataLock);

        // ConsoleLogLevel's members are Serilog's levels, in its order.
        var logLevel = (LogEventLevel)options.LogLevel;
        builder.Host.UseSerilog((ctx, cfg) =>
        {
            cfg.MinimumLevel.Is(logLevel)
                .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
                .Enrich.FromLogContext();
            if (options.LogFormat == LogFormat.Json) cfg.WriteTo.Console(new Serilog.Formatting.Compact.CompactJsonFormatter());
            else cfg.WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}");
        });

        builder.Services.AddSingleton(settings);
        // Stopping (SIGTERM) waits for the sender to drain: the host must allow that long, and a little more.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownDrainTimeout + TimeSpan.FromSeconds(15));
        builder.Services.AddSingleton(TimeProvider.System);
        // Email actors publish their states here: the sender and the read side look at them.
        builder.Services.AddSingleton<AkkaMail.Actors.LiveEmailStates>();
        builder.Services.AddStores(options, builder.Configuration);
        builder.Services.AddSingleton(sp => new AkkaMail.Templates.TemplateRenderer(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSendQueue(options, settings, hocon, builder.Configuration);
        // The providers the operator chose (one, or a route tried in order with a breaker each); Mailgun's webhooks are
        // processed whichever they are (a switch of provider must not drop the reports of emails Mailgun already has).
        foreach (var kind in options.ProviderOrder())
        {
            _ = kind switch
            {
                EmailProviderKind.Mailgun => builder.Services.AddMailgunProvider(builder.Configuration),
                EmailProviderKind.Smtp => builder.Services.AddSmtpProvider(builder.Configuration),
                _ => builder.Services.AddSandboxProvider(options, settings),
            };
        }
        builder.Services.AddMailgunWebhookProcessing(builder.Configuration, settings.WebhookTimestampTolerance);
        builder.Services.AddRealtime();
        builder.Services.AddOutboundWebhooks(options, settings, builder.Configuration);
        builder.Services.AddStatistics();

        builder.Services.AddAkka("akkamail", (akka, sp) =>
        {
            akka.AddHocon(hocon, HoconAddMode.Prepend);
            akka.ConfigureLoggers(l =>
            {
                // Akka filters at the same level as Serilog, so filtered-out events are never built or sent.
                l.LogLevel = logLevel switch
                {
                    LogEventLevel.Verbose or LogEventLevel.Debug => Akka.Event.LogLevel.DebugLevel,
                    LogEventLevel.Information => Akka.Event.LogLevel.InfoLevel,
                    LogEventLevel.Warning => Akka.Event.LogLevel.WarningLevel,
                    _ => Akka.Event.LogLevel.ErrorLevel,
                };
                l.ClearLoggers();
                l.AddLogger<SerilogLogger>();
            });
            akka.WithSchedulerStarted();
            // Unhealthy once the actor system has terminated: the process can do no more work (live and ready).
            akka.WithActorSystemLivenessCheck(tags: ServiceHealth.Liveness);
            akka.WithPersistenceBackend(options, builder.Configuration);
            akka.WithEmailPipeline(sp);
            akka.WithReadSide(sp);
            akka.WithOutboundWebhooks(sp);
            akka.WithStatistics(sp);
            akka.WithStatusBroadcaster(sp);
        });

        builder.Services.AddProblemDetails();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization(o => o.AddPolicy(ApiKeyAuthenticationHandler.AdminPolicy, p => p
            .RequireAuthenticatedUser()
            .RequireClaim(ApiKeyAuthenticationHandler.AdminClaim, "true")));
        builder.Services.AddSendRateLimit(builder.Configuration);
        builder.Services.AddApiEndpoints();
        builder.Services.AddReadinessChecks();
        builder.Services.AddAkkaMailTelemetry(builder.Configuration);

        configure?.Invoke(builder);
        var app = builder.Build();

        app.Services.GetRequiredService<Operations.DataFolderLock>(); // resolved, so that the container disposes it
        await InitializeStoresAsync(app, options);

        app.UseExceptionHandler(err => err.Run(async ctx =>
        {
            var ex = ctx.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, title, type) = ex is BadHttpRequestException bad
                ? (bad.StatusCode, "Bad request", bad.StatusCode == 413 ? ProblemTypes.PayloadTooLarge : ProblemTypes.MalformedJson)
                : (500, "Internal error", ProblemTypes.Internal);
            ctx.Response.StatusCode = status;
            await Results.Problem(statusCode: status, title: title, type: type,
                detail: status == 500 ? "An unexpected error occurred; it has been logged." : ex?.Message).ExecuteAsync(ctx);
        }));
        app.UseStatusCodePages(async ctx =>
        {
            var r = ctx.HttpContext.Response;
            if (r.HasStarted || r.ContentLength > 0) return;
            await Results.Problem(statusCode: r.StatusCode).ExecuteAsync(ctx.HttpContext);
        });
        // A request about one email carries its id, like every other log line about it.
        app.UseSerilogRequestLogging(o => o.EnrichDiagnosticContext = (diagnostics, http) =>
        {
            if (http.Request.Path.StartsWithSegments("/api/emails") && http.GetRouteValue("id") is string id)
                diagnostics.Set("EmailId", id);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        // The operator's surfaces: the admin key only, unless AkkaMail:PublicOperations (a scraper on a private network).
        void OperatorOnly(IEndpointConventionBuilder endpoint)
        {
            if (!options.PublicOperations) endpoint.RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy);
        }
        app.MapHealth(options.PublicOperations);
        OperatorOnly(app.MapPrometheusScrapingEndpoint("/metrics"));
        app.MapMailgunWebhooks();
        var api = app.MapGroup("/api").RequireApiKey();
        api.MapEmailEndpoints();
        api.MapUserEndpoints();
        api.MapSuppressionEndpoints();
        AkkaMail.Api.Erasure.ErasureEndpoints.MapErasureEndpoints(api);
        AkkaMail.Api.Storage.StorageEndpoints.MapStorageEndpoints(api);
        api.MapTemplateEndpoints();
        api.MapWebhookEndpointEndpoints();
        Statistics.StatsEndpoints.MapStatsEndpoints(api);
        OperatorOnly(app.MapOpenApi());
        OperatorOnly(app.MapScalarApiReference("/docs", o => o.WithTitle("AkkaMail API")));
        app.MapRealtime();
        return app;
    }

    /// <summary>Creates the tables or indexes (SQLite, MongoDB or PostgreSQL), and on first start with an empty store, an admin key in data/admin.key.</summary>
    private static async Task InitializeStoresAsync(WebApplication app, AkkaMailOptions options)
    {
        await app.Services.GetRequiredService<IEmailReadStore>().InitializeAsync();
        await app.Services.GetRequiredService<ISuppressionStore>().InitializeAsync();
        await app.Services.GetRequiredService<AkkaMail.Erasure.IErasureStore>().InitializeAsync();
        await app.Services.GetRequiredService<AkkaMail.Templates.ITemplateStore>().InitializeAsync();
        await app.Services.GetRequiredService<AkkaMail.OutboundWebhooks.IWebhookEndpointStore>().InitializeAsync();
        await app.Services.GetRequiredService<AkkaMail.OutboundWebhooks.IWebhookDeliveryStore>().InitializeAsync();
        await app.Services.GetRequiredService<AkkaMail.Statistics.IStatisticsStore>().InitializeAsync();
        app.Services.GetRequiredService<AkkaMail.OutboundWebhooks.WebhookSecretProtector>(); // its key file is created now, not at the first endpoint
        var users = app.Services.GetRequiredService<IUserStore>();
        await users.InitializeAsync();
        if (await users.AnyUserAsync()) return;
        var admin = await users.CreateUserAsync("admin", isAdmin: true, defaultFrom: null);
        var path = Path.GetFullPath(options.AdminKeyPath);
        // 0600 from its creation: no moment in which another user could read it.
        await using (var file = AkkaMail.Hosting.PrivateFiles.Open(path, FileMode.Create, FileAccess.Write, FileShare.None))
        await using (var writer = new StreamWriter(file))
            await writer.WriteAsync(admin.ApiKey + Environment.NewLine);
        app.Logger.LogWarning("Created the admin user and its API key in {AdminKeyPath} (first start with an empty store)", path);
    }
}

using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using AkkaMail.Configuration;
using AkkaMail.OutboundWebhooks;
using AkkaMail.Projections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Hosting;

/// <summary>The outbound webhooks projection's progress and its own view of the journal's head (for its lag).</summary>
public sealed record OutboundWebhookProgress(ProjectionProgress Progress, JournalHead Head);

public static class OutboundWebhookHosting
{
    public const string RunnerName = "outbound-webhooks-projection";

    /// <summary>What outbound webhooks need beside their stores (registered by the backend): the address guard, the
    /// secrets' protector (key from <see cref="WebhookSecretProtector.SettingKey"/>, else a file in the data folder),
    /// the HTTP sender, the endpoints' cache, the projection's progress, the worker's wake-up.</summary>
    public static IServiceCollection AddOutboundWebhooks(this IServiceCollection services, AkkaMailOptions options,
        AkkaMailSettings settings, IConfiguration configuration)
    {
        var webhooks = settings.OutboundWebhooks;
        services.AddSingleton(new WebhookAddressGuard(webhooks.AllowLoopback));
        services.AddSingleton(_ => WebhookSecretProtector.FromSettingOrFile(configuration[WebhookSecretProtector.SettingKey], options.DataPath));
        services.AddSingleton(sp => new WebhookSender(sp.GetRequiredService<WebhookAddressGuard>(), webhooks.ResponseBodyLimit));
        services.AddSingleton(sp => new WebhookEndpointCache(sp.GetRequiredService<IWebhookEndpointStore>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton(sp => new OutboundWebhookProgress(
            new ProjectionProgress(WebhookDeliveryProjection.Name, sp.GetService<TimeProvider>()), new JournalHead()));
        services.AddSingleton<WebhookWorkerSignal>();
        return services;
    }

    /// <summary>
    /// The projection that turns the journal's changes into deliveries (from its stored offset), and the worker that
    /// sends them.
    /// </summary>
    public static AkkaConfigurationBuilder WithOutboundWebhooks(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var options = sp.GetRequiredService<AkkaMailOptions>();
        var settings = sp.GetRequiredService<AkkaMailSettings>();
        var deliveries = sp.GetRequiredService<IWebhookDeliveryStore>();
        var endpointStore = sp.GetRequiredService<IWebhookEndpointStore>();
        var endpoints = sp.GetRequiredService<WebhookEndpointCache>();
        var progress = sp.GetRequiredService<OutboundWebhookProgress>();
        var signal = sp.GetRequiredService<WebhookWorkerSignal>();
        var clock = sp.GetService<TimeProvider>() ?? TimeProvider.System;
        var metrics = sp.GetService<Observability.AkkaMailMetrics>();
        return builder.WithActors((system, registry, _) =>
        {
            var attempts = new WebhookAttempts(deliveries, endpointStore, endpoints, sp.GetRequiredService<WebhookSecretProtector>(),
                sp.GetRequiredService<WebhookSender>(), settings.OutboundWebhooks, clock, metrics,
                Logging.GetLogger(system, typeof(WebhookAttempts)));
            var worker = system.ActorOf(WebhookDeliveryActor.Props(deliveries, endpoints, attempts, settings.OutboundWebhooks, clock),
                WebhookDeliveryActor.Name);
            signal.Use(() => worker.Tell(WebhookDeliveryActor.Wake.Instance));
            registry.Register<WebhookDeliveryActor>(worker);

            var journal = JournalQueries.For(system, options.Store);
            progress.Head.Use(journal.HighestOrderingAsync, journal.WrittenAfterAsync);
            if (metrics is not null) metrics.OutboundWebhooksLag = () => progress.Head.LastLag;
            system.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), () =>
                progress.Head.LagAsync(progress.Progress, clock.GetUtcNow()).ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted));
            var handler = new WebhookDeliveryProjection(deliveries, endpoints, journal.EventsUpToAsync, clock, settings.ReadSideCachedStates,
                signal.Wake, journal.HighestOrderingAsync);
            var runner = system.ActorOf(ProjectionRunnerActor.Props(handler, journal.AllEventsAfter, progress.Progress, settings.ReadSideProjection),
                RunnerName);
            registry.Register<WebhookDeliveryProjection>(runner);
        });
    }
}

using Akka.Actor;
using Akka.Event;
using Akka.Cluster.Hosting;
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
        Func<(Props Worker, Props Projection)> Children(ActorSystem system) => () =>
        {
            var attempts = new WebhookAttempts(deliveries, endpointStore, endpoints, sp.GetRequiredService<WebhookSecretProtector>(),
                sp.GetRequiredService<WebhookSender>(), settings.OutboundWebhooks, clock, metrics,
                Logging.GetLogger(system, typeof(WebhookAttempts)));
            var journal = JournalQueries.For(system, options.Store);
            progress.Head.Use(journal.HighestOrderingAsync, journal.WrittenAfterAsync);
            var handler = new WebhookDeliveryProjection(deliveries, endpoints, journal.EventsUpToAsync, clock, settings.ReadSideCachedStates,
                signal.Wake, journal.HighestOrderingAsync);
            return (WebhookDeliveryActor.Props(deliveries, endpoints, attempts, settings.OutboundWebhooks, clock),
                ProjectionRunnerActor.Props(handler, journal.AllEventsAfter, progress.Progress, settings.ReadSideProjection));
        };
        Props WebhooksProps(ActorSystem system)
        {
            var children = Children(system);
            return Props.Create(() => new OutboundWebhooksActor(children, signal));
        }
        if (metrics is not null) metrics.OutboundWebhooksLag = () => progress.Head.LastLag;
        builder.WithActors((system, _, _) =>
            system.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), () =>
                progress.Head.LagAsync(progress.Progress, clock.GetUtcNow()).ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted)));
        // Once per cluster (a singleton: a second worker over the shared store would deliver everything twice), else here.
        if (options.Cluster.Enabled)
            return builder.WithSingleton<OutboundWebhooksActor>(OutboundWebhooksActor.Name,
                (system, _, _) => WebhooksProps(system), new ClusterSingletonOptions(), createProxyToo: false);
        return builder.WithActors((system, registry, _) =>
            registry.Register<OutboundWebhooksActor>(system.ActorOf(WebhooksProps(system), OutboundWebhooksActor.Name)));
    }
}

/// <summary>
/// Outbound webhooks as one unit: the projection that turns the journal's changes into deliveries and the worker that
/// sends them, as children, so that in cluster mode the pair runs on one node at a time (a cluster singleton).
/// </summary>
public sealed class OutboundWebhooksActor : ReceiveActor
{
    public const string Name = "outbound-webhooks";

    public OutboundWebhooksActor(Func<(Props Worker, Props Projection)> children, WebhookWorkerSignal signal)
    {
        var (workerProps, projectionProps) = children();
        var worker = Context.ActorOf(workerProps, WebhookDeliveryActor.Name);
        signal.Use(() => worker.Tell(WebhookDeliveryActor.Wake.Instance));
        Context.ActorOf(projectionProps, OutboundWebhookHosting.RunnerName);
    }
}

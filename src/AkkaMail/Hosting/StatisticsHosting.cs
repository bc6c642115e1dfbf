using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using AkkaMail.Configuration;
using AkkaMail.Projections;
using AkkaMail.Statistics;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Hosting;

/// <summary>The statistics projection's progress and its own view of the journal's head (for its lag).</summary>
public sealed record StatisticsProgress(ProjectionProgress Progress, JournalHead Head);

public static class StatisticsHosting
{
    public const string RunnerName = "statistics-projection";

    /// <summary>Registry key of the statistics runner (the read side's runner is registered as <see cref="ProjectionRunnerActor"/>).</summary>
    public sealed class StatisticsRunner;

    public static IServiceCollection AddStatistics(this IServiceCollection services)
    {
        services.AddSingleton(sp => new StatisticsProgress(
            new ProjectionProgress(StatisticsProjection.Name, sp.GetService<TimeProvider>()), new JournalHead()));
        return services;
    }

    /// <summary>
    /// The statistics projection, from its stored offset: once per cluster in cluster mode (a singleton: two writers
    /// over the shared store would count every event twice), else in this process.
    /// </summary>
    public static AkkaConfigurationBuilder WithStatistics(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var options = sp.GetRequiredService<AkkaMailOptions>();
        var settings = sp.GetRequiredService<AkkaMailSettings>();
        var store = sp.GetRequiredService<IStatisticsStore>();
        var progress = sp.GetRequiredService<StatisticsProgress>();
        var clock = sp.GetService<TimeProvider>() ?? TimeProvider.System;
        Props RunnerProps(ActorSystem system)
        {
            var journal = JournalQueries.For(system, options.Store);
            progress.Head.Use(journal.HighestOrderingAsync, journal.WrittenAfterAsync);
            return ProjectionRunnerActor.Props(new StatisticsProjection(store, clock), journal.AllEventsAfter, progress.Progress,
                settings.ReadSideProjection);
        }
        if (options.Cluster.Enabled)
            return builder.WithSingleton<StatisticsRunner>(RunnerName, (system, _, _) => RunnerProps(system),
                new ClusterSingletonOptions(), createProxyToo: false);
        return builder.WithActors((system, registry, _) =>
            registry.Register<StatisticsRunner>(system.ActorOf(RunnerProps(system), RunnerName)));
    }
}

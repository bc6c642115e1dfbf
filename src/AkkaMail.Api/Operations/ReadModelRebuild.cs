using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.Projections;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;

namespace AkkaMail.Api.Operations;

/// <summary>
/// <c>rebuild-read-model</c>: drops the read model (views and their indexes) and the suppression lists, and projects
/// the whole journal into them again, with a progress bar and a rate. Lifted suppressions stay lifted. Refuses to run
/// while the service runs on the same data folder (both hold <see cref="DataFolderLock"/>); on MongoDB or PostgreSQL, stop every
/// instance of the service first.
/// </summary>
public static class ReadModelRebuild
{
    public const string Verb = "rebuild-read-model";

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken ct = default)
    {
        var builder = Host.CreateApplicationBuilder(args.Where(a => a != Verb).ToArray());
        var options = AkkaMailConfiguration.ReadOptions(builder.Configuration);
        AkkaMail.Hosting.PrivateFiles.CreateDirectory(options.DataPath);
        using var dataLock = DataFolderLock.TryAcquire(options.DataPath);
        if (dataLock is null)
        {
            output.WriteLine($"The service is running on {Path.GetFullPath(options.DataPath)}: stop it before rebuilding its read model.");
            return 2;
        }

        var hocon = AkkaMailConfiguration.LoadKnobs(options, builder.Configuration);
        var settings = AkkaMailSettings.FromConfig(hocon);
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddStores(options, builder.Configuration);
        builder.Services.AddAkka("akkamail-rebuild", (akka, _) =>
        {
            akka.AddHocon(hocon, HoconAddMode.Prepend);
            akka.AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend);
            akka.WithSchedulerStarted();
            akka.WithPersistenceBackend(options, builder.Configuration);
            akka.WithEmailSerialization();
        });
        using var host = builder.Build();
        await host.StartAsync(ct);
        try
        {
            var sp = host.Services;
            var store = sp.GetRequiredService<IEmailProjectionStore>();
            await sp.GetRequiredService<IEmailReadStore>().InitializeAsync(ct);
            await sp.GetRequiredService<ISuppressionStore>().InitializeAsync(ct);
            var system = sp.GetRequiredService<ActorSystem>();
            var journal = JournalQueries.For(system, options.Store);
            var total = await journal.HighestOrderingAsync(ct);
            output.WriteLine($"Rebuilding the read model and suppression lists from {total:N0} journal events ({Path.GetFullPath(options.DataPath)})");

            await store.ResetAsync(EmailReadSideProjection.Name, ct);
            var progress = new ProjectionProgress(EmailReadSideProjection.Name);
            var handler = new EmailReadSideProjection(store, sp.GetRequiredService<ISuppressionStore>(), journal.EventsUpToAsync,
                Math.Max(settings.ReadSideCachedStates, 100_000), searchHeaders: settings.SearchHeaders);
            var clock = Stopwatch.StartNew();
            var lastPrint = TimeSpan.Zero;
            await ProjectionStream.Once(handler, journal.CurrentEventsAfter, progress,
                    settings.ReadSideProjection with { BatchSize = 2000, BatchWindow = TimeSpan.FromMilliseconds(50) })
                .RunForeach(offset =>
                {
                    if (clock.Elapsed - lastPrint < TimeSpan.FromMilliseconds(200)) return;
                    lastPrint = clock.Elapsed;
                    output.Write("\r" + Bar(offset, total, progress.EventsProjected, clock.Elapsed));
                }, system.Materializer());
            output.WriteLine("\r" + Bar(total, total, progress.EventsProjected, clock.Elapsed));
            output.WriteLine($"Done: {progress.EventsProjected:N0} events in {clock.Elapsed.TotalSeconds:0.0} s " +
                $"({progress.EventsProjected / Math.Max(clock.Elapsed.TotalSeconds, 0.001):N0} events/s); " +
                $"{handler.StatesRebuilt:N0} emails folded from the journal mid-way.");
            return 0;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static string Bar(long at, long total, long events, TimeSpan elapsed)
    {
        const int width = 30;
        var share = total <= 0 ? 1.0 : Math.Clamp((double)at / total, 0, 1);
        var filled = (int)Math.Round(share * width);
        var rate = events / Math.Max(elapsed.TotalSeconds, 0.001);
        return $"[{new string('#', filled)}{new string('.', width - filled)}] {share,4:P0} {at:N0}/{total:N0} {rate:N0} events/s ";
    }
}

/// <summary>
/// An exclusive lock on a file in the data folder: the service holds it while it runs, the rebuild verb while it
/// rebuilds, so that neither runs beside the other on the same files. Released when disposed or when the process dies.
/// </summary>
public sealed class DataFolderLock : IDisposable
{
    public const string FileName = "akkamail.lock";
    private readonly FileStream _file;

    private DataFolderLock(FileStream file) => _file = file;

    public static DataFolderLock? TryAcquire(string dataPath)
    {
        try
        {
            return new DataFolderLock(AkkaMail.Hosting.PrivateFiles.Open(Path.Combine(dataPath, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite,
                FileShare.None));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _file.Dispose();
}

using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using LinqToDB;
using Akka.Hosting;
using Akka.Persistence.Sql;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using AkkaMail.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Hosting;

public static partial class AkkaMailHosting
{
    /// <summary>Loads the operator's HOCON file, its <c>key = ${?ENV}</c> overrides resolved.</summary>
    public static Config LoadHocon(string path) =>
        File.Exists(path)
            ? ConfigurationFactory.ParseString(ResolveOptionalOverrides(File.ReadAllText(path), Environment.GetEnvironmentVariable))
            : throw new FileNotFoundException($"HOCON file not found: {Path.GetFullPath(path)}", path);

    /// <summary>
    /// HOCON says <c>key = ${?VAR}</c> leaves the earlier value alone when VAR is unset; Akka's parser instead
    /// replaces it with an empty value. So we resolve these override lines ourselves before parsing: the line
    /// becomes the variable's value (as a quoted string), or disappears when the variable is unset.
    /// </summary>
    public static string ResolveOptionalOverrides(string hocon, Func<string, string?> env) =>
        OptionalOverride().Replace(hocon, m =>
        {
            var value = env(m.Groups["var"].Value);
            if (value is null) return m.Groups["indent"].Value + "# (unset) " + m.Value.TrimStart();
            var quoted = "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
            return $"{m.Groups["indent"].Value}{m.Groups["key"].Value} = {quoted}";
        });

    [System.Text.RegularExpressions.GeneratedRegex(@"^(?<indent>[ \t]*)(?<key>[A-Za-z0-9_.\-""]+)[ \t]*[=:][ \t]*\$\{\?(?<var>[A-Za-z0-9_]+)\}[ \t]*$",
        System.Text.RegularExpressions.RegexOptions.Multiline)]
    private static partial System.Text.RegularExpressions.Regex OptionalOverride();

    /// <summary>Persistence on a SQLite file through Akka.Persistence.Sql: the embedded default.</summary>
    public static AkkaConfigurationBuilder WithSqlitePersistence(this AkkaConfigurationBuilder builder, string databasePath)
    {
        SqliteDatabase.EnsureWal(databasePath);
        var cs = $"Data Source={Path.GetFullPath(databasePath)}".Replace("\\", "\\\\").Replace("\"", "\\\"");
        builder.AddHocon($$"""
            akka.persistence {
              journal {
                plugin = "akka.persistence.journal.sql"
                sql {
                  connection-string = "{{cs}}"
                  provider-name = "SQLite.MS"
                  auto-initialize = true
                  # Same as the snapshot store below: every new actor's recovery (even Recovery.None) reads the
                  # highest sequence number; the default opens that read with BEGIN IMMEDIATE, which queues behind
                  # every write. Measured with bench/AkkaMail.Bench: 80 -> 287 emails/s end to end.
                  read-isolation-level = read-uncommitted
                  # SQLite has one writer at a time, and Microsoft.Data.Sqlite answers a busy database by sleeping
                  # 150 ms before it retries: concurrent writers (the default is 3) only queue behind each other's
                  # sleeps. One writer, with large batches, writes more.
                  parallelism = 1
                  batch-size = 500
                }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql {
                  connection-string = "{{cs}}"
                  provider-name = "SQLite.MS"
                  auto-initialize = true
                  # The default opens reads with BEGIN IMMEDIATE, which waits whenever a writer holds the lock.
                  read-isolation-level = read-uncommitted
                }
              }
            }
            """, HoconAddMode.Prepend);
        // Without the plugin's defaults the plugin classes themselves are missing from the config.
        builder.AddHocon(SqlPersistence.DefaultConfiguration, HoconAddMode.Append);
        // The plugin's connections run with synchronous=FULL: in WAL mode that is an fsync per commit. NORMAL stays
        // durable across process crashes (the WAL is synced at checkpoints) and takes the fsync off every write.
        builder.AddSetup(new Akka.Persistence.Sql.Config.DataOptionsSetup(new LinqToDB.DataOptions()
            .UseConnectionString(LinqToDB.ProviderName.SQLiteMS, $"Data Source={Path.GetFullPath(databasePath)}")
            .UseInterceptor(new SqliteSynchronousNormal())));
        return builder;
    }

    /// <summary>Runs <c>PRAGMA synchronous=NORMAL</c> on every connection the journal opens.</summary>
    private sealed class SqliteSynchronousNormal : LinqToDB.Interceptors.ConnectionInterceptor
    {
        public override void ConnectionOpened(LinqToDB.Interceptors.ConnectionEventData eventData, System.Data.Common.DbConnection connection)
        {
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "PRAGMA synchronous=NORMAL;";
            cmd.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(LinqToDB.Interceptors.ConnectionEventData eventData,
            System.Data.Common.DbConnection connection, CancellationToken cancellationToken)
        {
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "PRAGMA synchronous=NORMAL;";
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Binds our JSON serializer to every persisted email event and snapshot.</summary>
    public static AkkaConfigurationBuilder WithEmailSerialization(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("akkamail-json", new[] { typeof(IEmailEvent), typeof(EmailState) },
            system => new EmailEventSerializer(system));

    /// <summary>
    /// The email pipeline: manager and email actors, dispatcher, sender stream, read-model writer, dispatch sweep.
    /// Its dependencies come from DI: settings, send queue, provider, read store, clock.
    /// </summary>
    public static AkkaConfigurationBuilder WithEmailPipeline(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var settings = sp.GetRequiredService<AkkaMailSettings>();
        var queue = sp.GetRequiredService<ISendQueue>();
        // Every provider call is measured (latency histogram, in-flight gauge).
        var provider = new Observability.MeasuredEmailProvider(sp.GetRequiredService<Providers.IEmailProvider>());
        var store = sp.GetRequiredService<IEmailReadStore>();
        var clock = sp.GetService<TimeProvider>() ?? TimeProvider.System;
        builder.WithEmailSerialization();
        // The drain runs in this phase: give it the drain deadline and a little more.
        builder.AddHocon($"akka.coordinated-shutdown.phases.service-requests-done.timeout = {(int)(settings.ShutdownDrainTimeout.TotalSeconds + 5)}s",
            HoconAddMode.Prepend);
        return builder.WithActors((system, registry, _) =>
        {
            var writer = system.ActorOf(Props.Create(() =>
                new ReadModelWriterActor(store, settings.ReadModelBatchSize, settings.ReadModelBatchWindow)), ReadModelWriterActor.Name);
            IActorRef dispatcher = ActorRefs.Nobody;
            // Email actors are only created once messages flow, after the dispatcher below exists.
            // A new email (id minted by the API) skips recovery: there is nothing in the journal for it yet.
            Func<string, Props>? freshProps = settings.SkipRecoveryOfNewEmails
                ? id => EmailActor.FreshProps(id, new EmailActorDeps(settings, dispatcher, writer, clock))
                : null;
            var manager = system.ActorOf(Props.Create(() => new EmailManagerActor(
                id => EmailActor.Props(id, new EmailActorDeps(settings, dispatcher, writer, clock)), freshProps)),
                EmailManagerActor.Name);
            dispatcher = system.ActorOf(Props.Create(() => new DispatcherActor(
                queue, manager, settings.DispatchBufferSize, settings.DispatchParallelism)), DispatcherActor.Name);
            var consumer = system.ActorOf(Props.Create(() => new SendConsumerActor(queue, provider, manager, settings)),
                SendConsumerActor.Name);
            var sweeper = system.ActorOf(Props.Create(() => new SweeperActor(store, manager, settings.SweepInterval,
                settings.SweepPickupTimeout, settings.SweepPickupTimeout, settings.SweepBatchSize,
                startupLosesQueuedJobs: !queue.IsDurable)), SweeperActor.Name);
            registry.Register<EmailManagerActor>(manager);
            registry.Register<DispatcherActor>(dispatcher);
            registry.Register<ReadModelWriterActor>(writer);
            registry.Register<SendConsumerActor>(consumer);
            // Graceful shutdown (SIGTERM, host stop): before the actors stop, the sender takes no new deliveries and
            // finishes those in flight — provider answer persisted, delivery acked — within the drain deadline.
            // What does not finish in time stays unacked (RabbitMQ redelivers it) or is found by the start-up sweep.
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "drain-sender", async () =>
            {
                try { await consumer.Ask<SendConsumerActor.Drained>(SendConsumerActor.Drain.Instance, settings.ShutdownDrainTimeout); }
                catch (AskTimeoutException) { system.Log.Warning("Sender did not drain within {0}", settings.ShutdownDrainTimeout); }
                return Akka.Done.Instance;
            });
            registry.Register<SweeperActor>(sweeper);
        });
    }
}

using Akka.Actor;
using Akka.Event;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using Akka.Remote.Hosting;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Persistence.Sqlite;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Sending;
using AkkaMail.Serialization;
using Microsoft.Extensions.DependencyInjection;


namespace AkkaMail.Hosting;

public static class AkkaMailHosting
{
    /// <summary>
    /// Persistence on a SQLite file: the embedded default, through our own plugin (AkkaMail.Persistence.Sqlite), which
    /// commits many actors' events in one transaction on one writer connection with a prepared statement (why not
    /// Akka.Persistence.Sql here: bench/AkkaMail.Bench/README.md). The journal and the snapshot store report their
    /// health to readiness.
    /// </summary>
    public static AkkaConfigurationBuilder WithSqlitePersistence(this AkkaConfigurationBuilder builder, string databasePath)
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(databasePath))!);
        PrivateFiles.EnsureFile(Path.GetFullPath(databasePath));
        return builder.WithSqliteJournal($"Data Source={Path.GetFullPath(databasePath)}",
            journal: ServiceHealth.JournalCheck, snapshot: ServiceHealth.SnapshotStoreCheck);
    }

    /// <summary>Binds our JSON serializers: one to every persisted email event and snapshot, one to the commands and
    /// replies that cross nodes in cluster mode.</summary>
    public static AkkaConfigurationBuilder WithEmailSerialization(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("akkamail-json", new[] { typeof(IEmailEvent), typeof(EmailState) },
                system => new EmailEventSerializer(system))
            .WithCustomSerializer("akkamail-messages", EmailMessageSerializer.BoundTypes, system => new EmailMessageSerializer(system));

    /// <summary>
    /// The email pipeline: manager and email actors, dispatcher, sender stream, dispatch sweep. Its dependencies come
    /// from DI: settings, send queue, provider, read store, the read side's progress, clock. The read side itself (the
    /// projection feeding the read model and the suppression lists) is <see cref="ReadSideHosting.WithReadSide"/>.
    /// </summary>
    /// <summary>The provider the sender calls: the one registered (the last registration wins, so a host may put its own in
    /// place), or, with a route of several (<c>AkkaMail:Route</c>), a <see cref="Providers.ProviderRoute"/> over the
    /// registered providers of those names, in route order, each with its own breaker. Every provider's calls are
    /// measured under its own name.</summary>
    private static Providers.IEmailProvider ProviderOf(IServiceProvider sp, AkkaMailSettings settings, Observability.AkkaMailMetrics? metrics)
    {
        var route = sp.GetService<AkkaMailOptions>()?.ProviderOrder().Select(AkkaMailOptions.NameOf).ToList() ?? [];
        if (route.Count <= 1) return new Observability.MeasuredEmailProvider(sp.GetRequiredService<Providers.IEmailProvider>(), metrics);
        var registered = sp.GetServices<Providers.IEmailProvider>().ToArray();
        var members = route
            .Select(name => registered.LastOrDefault(p => p.Name == name)
                            ?? throw new InvalidOperationException($"The route names the provider '{name}', which is not registered."))
            .Select(p => (Providers.IEmailProvider)new Observability.MeasuredEmailProvider(p, metrics))
            .ToArray();
        var log = Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<Providers.ProviderRoute>(
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>());
        return new Providers.ProviderRoute(members, settings.Breaker, log, metrics, sp.GetService<TimeProvider>());
    }

    public static AkkaConfigurationBuilder WithEmailPipeline(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var settings = sp.GetRequiredService<AkkaMailSettings>();
        var queue = sp.GetRequiredService<ISendQueue>();
        // Every provider call is measured (latency histogram, in-flight gauge).
        var metrics = sp.GetService<Observability.AkkaMailMetrics>();
        var provider = ProviderOf(sp, settings, metrics);
        var store = sp.GetRequiredService<IEmailReadStore>();
        var readSide = sp.GetRequiredService<Projections.ProjectionProgress>();
        var head = sp.GetRequiredService<Projections.JournalHead>();
        var clock = sp.GetService<TimeProvider>() ?? TimeProvider.System;
        builder.WithEmailSerialization();
        // The drain runs in this phase: give it the drain deadline and a little more.
        builder.AddHocon($"akka.coordinated-shutdown.phases.service-requests-done.timeout = {(int)(settings.ShutdownDrainTimeout.TotalSeconds + 5)}s",
            HoconAddMode.Prepend);
        var cluster = sp.GetService<AkkaMailOptions>()?.Cluster is { Enabled: true } c ? c : null;
        if (cluster is not null) builder.WithEmailRegion(sp, cluster, settings, readSide, clock, sp.GetService<LiveEmailStates>() ?? new LiveEmailStates(), metrics);
        Props SweeperProps(IActorRef manager) => Props.Create(() => new SweeperActor(store, manager, settings.SweepInterval,
            settings.SweepPickupTimeout, settings.SweepPickupTimeout, settings.SweepBatchSize,
            !queue.IsDurable, clock, () => CaughtUpWithStartAsync(readSide, head)));
        // Whatever the provider now: the sandbox may have written files there before.
        var appOptions = sp.GetService<AkkaMailOptions>();
        var outboxPath = appOptions?.OutboxPath;
        // SQLite: what a run deleted leaves the files once their logs are checkpointed.
        Func<Task>? afterRemoval = appOptions is { Store: StoreKind.Sqlite } sqlite
            ? async () =>
            {
                // Until both complete: an erasure is not recorded completed while the removed bytes may still be in a file
                // (its next run removes and checkpoints again).
                var journal = await Stores.Sqlite.SqliteDatabase.CheckpointFullyAsync(sqlite.JournalPath);
                var readModel = await Stores.Sqlite.SqliteDatabase.CheckpointFullyAsync(sqlite.ReadModelPath);
                if (!journal || !readModel)
                    throw new IOException($"The SQLite {(journal ? "read model's" : "journal's")} write-ahead log could not be " +
                                          "checkpointed: removed bytes may still be in its file; the next run tries again");
            }
            : null;
        var retentionProgress = sp.GetService<RetentionProgress>() ?? new RetentionProgress();
        if (metrics is not null) metrics.RetentionRemoved = () => (retentionProgress.BodiesRemovedTotal, retentionProgress.EmailsRemovedTotal);
        var storageFigures = sp.GetService<StorageFiguresCache>();
        if (metrics is not null)
        {
            metrics.StorageMetricsUsers = settings.StorageMetricsUsers;
            if (storageFigures is not null) metrics.StorageFigures = () => storageFigures.Latest;
        }
        // The backend's own parts (PostgreSQL, MongoDB) come with the storage figures; the files are measured at each scrape.
        if (metrics is not null && appOptions is not null)
            metrics.StorageBytes = () => StorageBytes(appOptions)
                .Concat((storageFigures?.Latest?.Disk ?? []).Where(d => d.Part is "journal" or "read_model" && appOptions.Store != StoreKind.Sqlite)
                    .Select(d => (d.Part, d.Bytes)))
                .ToList();
        Action<string>? removeOutboxFiles = outboxPath is null ? null : id => Providers.SandboxProvider.RemoveOutboxFiles(outboxPath, id);
        var retentionOffsets = sp.GetRequiredService<IEmailProjectionStore>();
        Props RetentionProps(IActorRef manager, ActorSystem system)
        {
            // PostgreSQL: the journal plugin keeps a removed email's last event row (marked deleted): it goes too.
            Func<string, Task>? forgetRemoved = null;
            if (appOptions is { Store: StoreKind.Postgres })
            {
                var purge = AkkaMail.Persistence.Postgres.PostgresJournalPurge.For(system);
                forgetRemoved = id => purge.ForgetDeletedAsync(EmailActor.PersistenceIdFor(id));
            }
            var figures = sp.GetService<StoreRegistration.EmailReadStoreBackend>()?.Store as IEmailStorageStore;
            Func<IReadOnlyCollection<string>, DateTimeOffset, Task>? markBodiesRemoved =
                figures is null ? null : (ids, at) => figures.MarkBodiesRemovedAsync(ids, at);
            return Props.Create(() => new RetentionActor(settings.Retention, store,
                retentionOffsets, manager, clock, settings.RetentionInterval, settings.RetentionBatchSize,
                settings.AskTimeout, retentionProgress, removeOutboxFiles, afterRemoval, forgetRemoved, markBodiesRemoved));
        }
        var erasures = sp.GetService<Erasure.IErasureStore>();
        var webhookDeliveries = sp.GetService<OutboundWebhooks.IWebhookDeliveryStore>();
        Props ErasureProps(IActorRef manager, ActorSystem system)
        {
            Func<string, Task>? forgetRemoved = null;
            if (appOptions is { Store: StoreKind.Postgres })
            {
                var purge = AkkaMail.Persistence.Postgres.PostgresJournalPurge.For(system);
                forgetRemoved = id => purge.ForgetDeletedAsync(EmailActor.PersistenceIdFor(id));
            }
            return Props.Create(() => new ErasureActor(erasures!, store, manager, clock, settings.ErasureInterval, settings.AskTimeout,
                removeOutboxFiles, afterRemoval, forgetRemoved, () => CaughtUpWithStartAsync(readSide, head).WaitAsync(settings.AskTimeout),
                webhookDeliveries));
        }
        // Reconciliation runs when a provider with an event history (Mailgun) is registered, and only then.
        var eventHistory = sp.GetService<Providers.IProviderEventHistory>();
        Props ReconciliationProps(IActorRef manager) => Props.Create(() => new ReconciliationActor(eventHistory!, store,
            sp.GetRequiredService<Gateway.IEmailGateway>(), manager, settings.Reconciliation, clock, settings.AskTimeout, metrics));
        builder.WithActors((system, registry, _) =>
        {
            var live = sp.GetService<LiveEmailStates>() ?? new LiveEmailStates();
            IActorRef manager;
            if (cluster is not null) manager = registry.Get<EmailManagerActor>();
            else
            {
                // Email actors are only created once messages flow, after the dispatcher below exists.
                var emailDeps = EmailDeps(sp, settings, readSide, clock, live, metrics);
                // A new email (id minted by the API) skips recovery: there is nothing in the journal for it yet.
                Func<string, Props>? freshProps = settings.SkipRecoveryOfNewEmails ? id => EmailActor.FreshProps(id, emailDeps) : null;
                manager = system.ActorOf(Props.Create(() => new EmailManagerActor(
                    id => EmailActor.Props(id, emailDeps), freshProps, settings.PassivationTimeout)),
                    EmailManagerActor.Name);
                registry.Register<EmailManagerActor>(manager);
            }
            var dispatcher = system.ActorOf(Props.Create(() => new DispatcherActor(
                queue, manager, settings.DispatchBufferSize, settings.DispatchParallelism)), DispatcherActor.Name);
            registry.Register<DispatcherActor>(dispatcher);
            Task? memberUp = null;
            if (cluster is not null)
            {
                var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
                memberUp = up.Task;
            }
            var consumer = system.ActorOf(Props.Create(() => new SendConsumerActor(queue, provider, manager, settings, clock, live, memberUp)),
                SendConsumerActor.Name);
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
            // One sweep per cluster (a singleton on the oldest node), else one in this process.
            if (cluster is null) registry.Register<SweeperActor>(system.ActorOf(SweeperProps(manager), SweeperActor.Name));
            // One retention job per deployment, likewise.
            if (cluster is null) registry.Register<RetentionActor>(system.ActorOf(RetentionProps(manager, system), RetentionActor.Name));
            // One erasure worker per deployment, likewise (none without an erasure store: actor tests).
            if (cluster is null && erasures is not null)
                registry.Register<ErasureActor>(system.ActorOf(ErasureProps(manager, system), ErasureActor.Name));
            // One reconciliation job per deployment, likewise.
            if (cluster is null && eventHistory is not null)
                registry.Register<ReconciliationActor>(system.ActorOf(ReconciliationProps(manager), ReconciliationActor.Name));
        });
        if (cluster is not null)
        {
            builder.WithSingleton<SweeperActor>(SweeperActor.Name,
                (_, registry, _) => SweeperProps(registry.Get<EmailManagerActor>()), new ClusterSingletonOptions(), createProxyToo: false);
            builder.WithSingleton<RetentionActor>(RetentionActor.Name,
                (system, registry, _) => RetentionProps(registry.Get<EmailManagerActor>(), system), new ClusterSingletonOptions(), createProxyToo: false);
            if (erasures is not null)
                builder.WithSingleton<ErasureActor>(ErasureActor.Name,
                    (system, registry, _) => ErasureProps(registry.Get<EmailManagerActor>(), system), new ClusterSingletonOptions(), createProxyToo: false);
            if (eventHistory is not null)
                builder.WithSingleton<ReconciliationActor>(ReconciliationActor.Name,
                    (_, registry, _) => ReconciliationProps(registry.Get<EmailManagerActor>()), new ClusterSingletonOptions(), createProxyToo: false);
        }
        return builder;
    }

    /// <summary>
    /// Cluster mode: Akka.Remote on the configured address, Akka.Cluster joined through the seed nodes (a cluster of one
    /// without them), the split-brain resolver keeping the majority, and the email actors as entities of a sharding
    /// region registered as <see cref="EmailManagerActor"/>, so everything that reaches emails through the manager
    /// reaches them, wherever they live, through the region. Idle entities passivate after the same timeout; no
    /// remembered entities (an email is recreated by its next message); the coordinator's state in distributed data.
    /// Each entity is an <see cref="EmailEntityActor"/>, which sees the email's first message and so can let an email
    /// whose id was minted for it skip recovery, as the single node's parent does.
    /// </summary>
    private static AkkaConfigurationBuilder WithEmailRegion(this AkkaConfigurationBuilder builder, IServiceProvider sp, ClusterSettings cluster,
        AkkaMailSettings settings, Projections.ProjectionProgress readSide, TimeProvider clock, LiveEmailStates live,
        Observability.AkkaMailMetrics? metrics)
    {
        builder.WithRemoting(new RemoteOptions { HostName = cluster.Hostname, Port = cluster.Port });
        // No seed nodes in Akka's configuration: the node joins them itself, at start (JoinThroughSeeds).
        builder.WithClustering(new ClusterOptions { SplitBrainResolver = new KeepMajorityOption() });
        builder.AddHocon($"akka.cluster.split-brain-resolver.stable-after = {(long)cluster.DownAfter.TotalMilliseconds}ms", HoconAddMode.Prepend);
        builder.AddStartup((system, _) =>
        {
            var self = Akka.Cluster.Cluster.Get(system);
            if (cluster.SeedNodes.Length == 0) self.Join(self.SelfAddress);
            else JoinThroughSeeds(self, [.. cluster.SeedNodes.Select(Address.Parse)], cluster.FormAfter);
        });
        // Ready once this node is a member that is Up.
        builder.WithAkkaClusterReadinessCheck(tags: ServiceHealth.Readiness);
        builder.WithDistributedPubSub(role: null!);
        builder.WithActors((system, registry) =>
            registry.Register<EmailChangeRelay>(system.ActorOf(Props.Create(() => new EmailChangeRelay()), EmailChangeRelay.Name)));
        var passivate = settings.PassivationTimeout > TimeSpan.Zero && settings.PassivationTimeout != Timeout.InfiniteTimeSpan;
        return builder.WithShardRegion<EmailManagerActor>("email",
            (_, _, _) =>
            {
                var emailDeps = EmailDeps(sp, settings, readSide, clock, live, metrics);
                Func<string, Props> props = id => EmailActor.Props(id, emailDeps);
                Func<string, Props>? freshProps = settings.SkipRecoveryOfNewEmails ? id => EmailActor.FreshProps(id, emailDeps) : null;
                return id => EmailEntityActor.Props(id, props, freshProps);
            },
            new EmailMessageExtractor(cluster.Shards),
            new ShardOptions
            {
                StateStoreMode = StateStoreMode.DData,
                RememberEntities = false,
                ShouldPassivateIdleEntities = passivate,
                PassivateIdleEntityAfter = passivate ? settings.PassivationTimeout : null,
                HandOffStopMessage = EmailActor.Stop.Instance,
            });
    }

    /// <summary>One set of dependencies for every email actor, the dispatcher among them as Akka.Hosting's
    /// <see cref="IRequiredActor{TActor}"/> from the service provider. Email actors are created with a producer rather
    /// than the resolver's Props: thousands a second, each would otherwise be built by reflection in a scope of its own.</summary>
    private static EmailActorDeps EmailDeps(IServiceProvider sp, AkkaMailSettings settings, Projections.ProjectionProgress readSide,
        TimeProvider clock, LiveEmailStates live, Observability.AkkaMailMetrics? metrics) =>
        new(settings, sp.GetRequiredService<IRequiredActor<DispatcherActor>>(), readSide, clock, live, metrics);

    /// <summary>
    /// Joins the cluster through its seed nodes. Only the first seed listed may form a new cluster, and Akka lets it do
    /// so when no other seed answers within 5 s: restarted while the others are slow (a loaded machine), it formed a
    /// second cluster beside theirs, two shard coordinators for the same emails. So the first seed asks the other
    /// seeds alone for <paramref name="formAfter"/>, and only if it is then still no member does it join them all the
    /// Akka way (the others once more, else itself). Every other node joins through the seeds as Akka does, retrying
    /// until one answers.
    /// </summary>
    private static void JoinThroughSeeds(Akka.Cluster.Cluster self, System.Collections.Immutable.ImmutableList<Address> seeds, TimeSpan formAfter)
    {
        if (seeds.Count < 2 || !seeds[0].Equals(self.SelfAddress))
        {
            self.JoinSeedNodes(seeds);
            return;
        }
        self.JoinSeedNodes(seeds.RemoveAt(0));
        self.System.Scheduler.Advanced.ScheduleOnce(formAfter, () =>
        {
            if (self.State.Members.Any(m => m.UniqueAddress.Equals(self.SelfUniqueAddress))) return;
            self.System.Log.Warning("No other seed node answered within {0}: joining the seeds again, this node forming the cluster if none answers", formAfter);
            self.JoinSeedNodes(seeds);
        });
    }

    /// <summary>Bytes on disk of the service's files: the SQLite journal and read model (each with its log), the outbox.</summary>
    internal static IReadOnlyList<(string Part, long Bytes)> StorageBytes(AkkaMailOptions options)
    {
        static long Files(string path) => new[] { path, path + "-wal", path + "-shm" }.Sum(f => File.Exists(f) ? new FileInfo(f).Length : 0);
        var parts = new List<(string, long)>();
        if (options.Store == StoreKind.Sqlite)
        {
            parts.Add(("journal", Files(options.JournalPath)));
            parts.Add(("read_model", Files(options.ReadModelPath)));
        }
        parts.Add(("outbox", Directory.Exists(options.OutboxPath)
            ? Directory.EnumerateFiles(options.OutboxPath).Sum(f => { try { return new FileInfo(f).Length; } catch (IOException) { return 0L; } })
            : 0));
        return parts;
    }

    /// <summary>Completes once the read side has projected everything the journal held when this was called.</summary>
    public static async Task CaughtUpWithStartAsync(Projections.ProjectionProgress progress, Projections.JournalHead head)
    {
        while (true)
        {
            try
            {
                if (await head.HighestOrderingAsync() is { } target)
                {
                    await progress.WhenReached(target);
                    return;
                }
            }
            catch (Exception)
            {
                // The journal is not reachable yet (starting, or its store is down): ask again.
            }
            await Task.Delay(100);
        }
    }
}

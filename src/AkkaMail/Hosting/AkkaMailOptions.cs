using System.ComponentModel.DataAnnotations;

namespace AkkaMail.Hosting;

/// <summary>The send queue (<c>AkkaMail:Transport</c>).</summary>
public enum SendTransport { InProc, RabbitMq }

/// <summary>The email provider (<c>AkkaMail:Provider</c>).</summary>
public enum EmailProviderKind { Sandbox, Mailgun, Smtp }

/// <summary>The storage backend of the journal and every store (<c>AkkaMail:Store</c>).</summary>
public enum StoreKind { Sqlite, MongoDb, Postgres }

/// <summary>The console log's minimum level (<c>AkkaMail:LogLevel</c>).</summary>
public enum ConsoleLogLevel { Verbose, Debug, Information, Warning, Error, Fatal }

/// <summary>The console log's format (<c>AkkaMail:LogFormat</c>): lines for people, or one JSON object per line for a
/// container's log collector (Serilog's compact JSON: <c>@t</c>, <c>@mt</c>, <c>@l</c>, <c>@tr</c>/<c>@sp</c> for the
/// trace, and every property such as <c>EmailId</c>).</summary>
public enum LogFormat { Text, Json }

/// <summary>
/// Where things are and which backends to use: ASP.NET configuration section "AkkaMail" (appsettings, environment
/// variables such as AkkaMail__DataPath, command line --AkkaMail:DataPath=...). Read and validated once at start by
/// <see cref="Configuration.AkkaMailConfiguration.ReadOptions"/>. The throughput knobs share the section
/// (AkkaMail:Sender:Parallelism): see <see cref="Configuration.AkkaMailConfiguration.LoadKnobs"/>.
/// </summary>
public sealed class AkkaMailOptions
{
    public const string Section = "AkkaMail";

    /// <summary>Folder for every file the service writes: SQLite databases, outbox, admin key.</summary>
    [Required(AllowEmptyStrings = false)]
    public string DataPath { get; set; } = "data";

    /// <summary>The HOCON file with the operator's knobs.</summary>
    [Required(AllowEmptyStrings = false)]
    public string HoconPath { get; set; } = "hocon/akkamail.hocon";

    /// <summary>Send queue: <c>inproc</c> (default) or <c>rabbitmq</c> (connection from <c>RabbitMq:Uri</c>).</summary>
    public SendTransport Transport { get; set; } = SendTransport.InProc;

    /// <summary>Provider: <c>sandbox</c> (default: .eml files in the outbox) or <c>mailgun</c> (the <c>Mailgun</c> section).</summary>
    public EmailProviderKind Provider { get; set; } = EmailProviderKind.Sandbox;

    /// <summary>The providers in the order they are tried (<c>AkkaMail:Route:0=mailgun</c>, <c>AkkaMail:Route:1=smtp</c>):
    /// each attempt goes to the first whose circuit breaker is closed (<c>akkamail.breaker</c>). Empty (the default): the
    /// one <see cref="Provider"/>.</summary>
    public EmailProviderKind[] Route { get; set; } = [];

    /// <summary>The providers in use, in route order, each once.</summary>
    public IReadOnlyList<EmailProviderKind> ProviderOrder() => Route.Length > 0 ? Route.Distinct().ToArray() : [Provider];

    public bool Uses(EmailProviderKind kind) => ProviderOrder().Contains(kind);

    /// <summary>A provider's name as it calls itself (its <c>IEmailProvider.Name</c>).</summary>
    public static string NameOf(EmailProviderKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Storage for the journal, read model, users, suppressions and webhook tokens: <c>sqlite</c> (default: files
    /// in DataPath), <c>mongodb</c> (connection string from ConnectionStrings:MongoDb) or <c>postgres</c> (connection string
    /// from ConnectionStrings:Postgres).</summary>
    public StoreKind Store { get; set; } = StoreKind.Sqlite;

    /// <summary>The MongoDB database when Store is <c>mongodb</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string MongoDatabase { get; set; } = "akkamail";

    /// <summary>Raw HOCON that takes precedence over the file and over the knobs set in this section (akka.* settings,
    /// tests and one-off runs).</summary>
    public string? HoconOverrides { get; set; }

    /// <summary>When true, <c>/metrics</c>, <c>/docs</c>, <c>/openapi/v1.json</c> and the details of <c>/health/ready</c> answer
    /// without a key (for a scraper on a private network). Default false: they need the admin API key.</summary>
    public bool PublicOperations { get; set; }

    /// <summary>Minimum level of the console log.</summary>
    public ConsoleLogLevel LogLevel { get; set; } = ConsoleLogLevel.Information;

    /// <summary>Format of the console log: <c>text</c> (default) or <c>json</c>.</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Text;

    /// <summary>Cluster mode (<c>AkkaMail:Cluster:*</c>): off by default, one process as today.</summary>
    public ClusterSettings Cluster { get; set; } = new();

    public string JournalPath => Path.Combine(DataPath, "events.db");
    public string ReadModelPath => Path.Combine(DataPath, "akkamail.db");
    public string OutboxPath => Path.Combine(DataPath, "outbox");
    public string AdminKeyPath => Path.Combine(DataPath, "admin.key");

    /// <summary>The HOCON file: as configured, else next to the binaries (it is copied there at build).</summary>
    public string ResolveHoconPath()
    {
        if (File.Exists(HoconPath) || Path.IsPathRooted(HoconPath)) return HoconPath;
        var beside = Path.Combine(AppContext.BaseDirectory, HoconPath);
        return File.Exists(beside) ? beside : HoconPath;
    }
}

/// <summary>
/// Cluster mode: the email actors become entities of an Akka.Cluster.Sharding region spread over the nodes, which
/// find each other through <see cref="SeedNodes"/> (or, with none, form a cluster of one). Nodes share the store and
/// the RabbitMQ queue.
/// </summary>
public sealed class ClusterSettings
{
    /// <summary><c>AkkaMail:Cluster:Enabled</c>.</summary>
    public bool Enabled { get; set; }

    /// <summary>The address the node listens on and others reach it by (<c>AkkaMail:Cluster:Hostname</c>).</summary>
    [Required(AllowEmptyStrings = false)]
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>The node's Akka.Remote port (<c>AkkaMail:Cluster:Port</c>); 0 picks a free one (a cluster of one only:
    /// others must know the port).</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Addresses of the nodes that form the cluster, e.g. <c>akka.tcp://akkamail@10.0.0.5:4053</c>
    /// (<c>AkkaMail:Cluster:SeedNodes:0</c>, ...). None: this node forms a cluster of its own.</summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>How long the first seed node, when it starts, tries to join the other seeds before it forms a new cluster
    /// on its own (<c>AkkaMail:Cluster:FormAfter</c>). Akka's own wait is 5 s, and a first seed restarted while the
    /// others were too busy to answer in 5 s formed a second cluster beside theirs.</summary>
    public TimeSpan FormAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Shards of the email region; every node must have the same number (<c>AkkaMail:Cluster:Shards</c>).</summary>
    [Range(1, 10_000)]
    public int Shards { get; set; } = Actors.EmailMessageExtractor.DefaultShards;

    /// <summary>How long an unreachable node stays unreachable before the split-brain resolver downs it (keep-majority)
    /// and its emails move to the survivors (<c>AkkaMail:Cluster:DownAfter</c>).</summary>
    public TimeSpan DownAfter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Where the read side's projection (read model, suppressions) runs (<c>AkkaMail:Cluster:ReadSide</c>).</summary>
    public ReadSidePlacement ReadSide { get; set; } = ReadSidePlacement.Singleton;

    /// <summary>How often a node that does not run the read side reads its stored offset, in case an announcement of
    /// it was lost (<c>AkkaMail:Cluster:ReadSidePoll</c>).</summary>
    public TimeSpan ReadSidePoll { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Where a cluster projects the journal into the read model.</summary>
public enum ReadSidePlacement
{
    /// <summary>Once per cluster, as a cluster singleton; the other nodes follow its progress (announced over
    /// DistributedPubSub, and read from the store as a fallback). Each event is projected once.</summary>
    Singleton,

    /// <summary>On every node, into the shared read model (version-guarded writes): each node knows its own progress
    /// without a hop, at the cost of projecting every event once per node.</summary>
    EveryNode,
}

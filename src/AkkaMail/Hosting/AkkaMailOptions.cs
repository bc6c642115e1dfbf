namespace AkkaMail.Hosting;

/// <summary>
/// Where things are and which backends to use: ASP.NET configuration section "AkkaMail"
/// (appsettings, environment variables such as AkkaMail__DataPath, command line --AkkaMail:DataPath=...).
/// Throughput knobs live in HOCON instead (hocon/akkamail.hocon).
/// </summary>
public sealed class AkkaMailOptions
{
    public const string Section = "AkkaMail";

    /// <summary>Folder for every file the service writes: SQLite databases, outbox, admin key.</summary>
    public string DataPath { get; set; } = "data";

    /// <summary>The HOCON file with the operator's knobs.</summary>
    public string HoconPath { get; set; } = "hocon/akkamail.hocon";

    /// <summary>Send queue: <c>inproc</c> (default) or <c>rabbitmq</c>.</summary>
    public string Transport { get; set; } = "inproc";

    /// <summary>Provider: <c>sandbox</c> (default: .eml files in the outbox) or <c>mailgun</c>.</summary>
    public string Provider { get; set; } = "sandbox";

    /// <summary>Storage for the journal, read model, users, suppressions and webhook tokens: <c>sqlite</c> (default: files
    /// in DataPath) or <c>mongodb</c> (connection string from ConnectionStrings:MongoDb).</summary>
    public string Store { get; set; } = "sqlite";

    /// <summary>The MongoDB database when Store is <c>mongodb</c>.</summary>
    public string MongoDatabase { get; set; } = "akkamail";

    /// <summary>Extra HOCON that takes precedence over the file (tests and one-off runs).</summary>
    public string? HoconOverrides { get; set; }

    /// <summary>When true, <c>/metrics</c>, <c>/docs</c>, <c>/openapi/v1.json</c> and the details of <c>/health/ready</c> answer
    /// without a key (for a scraper on a private network). Default false: they need the admin API key.</summary>
    public bool PublicOperations { get; set; }

    /// <summary>Minimum level of the console log: Verbose, Debug, Information, Warning, Error.</summary>
    public string LogLevel { get; set; } = "Information";

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

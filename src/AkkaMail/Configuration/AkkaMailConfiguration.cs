using System.ComponentModel.DataAnnotations;
using System.Text;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using AkkaMail.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AkkaMail.Configuration;

/// <summary>
/// The service's one configuration: ASP.NET configuration (appsettings.json, then environment variables, then the
/// command line) over the operator's HOCON file. Knobs of the file's <c>akkamail</c> block are set in the
/// <c>AkkaMail</c> section under the same path, each HOCON key written with or without its dashes, case ignored:
/// <c>akkamail.sender.rate-limit.per-second</c> is <c>AkkaMail:Sender:RateLimit:PerSecond</c> (environment
/// <c>AkkaMail__Sender__RateLimit__PerSecond</c>, command line <c>--AkkaMail:Sender:RateLimit:PerSecond=</c>), with the
/// file's units (<c>AkkaMail__Sender__AttemptTimeout=90s</c>). Every failure names the key to fix and is reported as an
/// <see cref="OptionsValidationException"/>, which the host turns into a message and a non-zero exit.
/// </summary>
public static class AkkaMailConfiguration
{
    /// <summary>The configuration key of the MongoDB connection string (ConnectionStrings:MongoDb).</summary>
    public const string MongoConnectionStringName = "MongoDb";
    /// <summary>The configuration key of the PostgreSQL connection string (ConnectionStrings:Postgres).</summary>
    public const string PostgresConnectionStringName = "Postgres";
    public const string RabbitMqUriKey = "RabbitMq:Uri";

    /// <summary>Binds, validates and registers <see cref="AkkaMailOptions"/> (also as <c>IOptions</c>, validated again on
    /// start); returns them, as the service's composition depends on them. <paramref name="checks"/> are the checks of the
    /// modules the composition root plugs in (the Mailgun provider's).</summary>
    public static AkkaMailOptions AddAkkaMailOptions(this IServiceCollection services, IConfiguration configuration, params SettingsCheck[] checks)
    {
        var options = ReadOptions(configuration, checks);
        services.AddSingleton(options);
        services.AddSingleton<IValidateOptions<AkkaMailOptions>>(new AkkaMailOptionsValidator(configuration, checks));
        services.AddOptions<AkkaMailOptions>().Bind(configuration.GetSection(AkkaMailOptions.Section)).ValidateOnStart();
        return options;
    }

    /// <summary>The <c>AkkaMail</c> section, bound and validated, with the settings each choice requires.</summary>
    /// <exception cref="OptionsValidationException">Each failure names its key.</exception>
    public static AkkaMailOptions ReadOptions(IConfiguration configuration, params SettingsCheck[] checks)
    {
        var failures = new List<string>();
        var options = Bind<AkkaMailOptions>(configuration.GetSection(AkkaMailOptions.Section), failures);
        if (failures.Count == 0 && new AkkaMailOptionsValidator(configuration, checks).Validate(null, options) is { Failed: true } result)
            failures.AddRange(result.Failures);
        ThrowIfAny<AkkaMailOptions>(failures);
        return options;
    }

    /// <summary>
    /// Binds a section into a new <typeparamref name="T"/>. An enum value that is none of the enum's names fails as
    /// "Key: 'value' is not one of a, b"; a value the binder cannot convert fails with the binder's message (which
    /// names the key).
    /// </summary>
    public static T Bind<T>(IConfigurationSection section, ICollection<string> failures) where T : new()
    {
        var before = failures.Count;
        foreach (var property in typeof(T).GetProperties())
        {
            if (!property.PropertyType.IsEnum || !property.CanWrite) continue;
            var key = section.GetSection(property.Name);
            if (string.IsNullOrWhiteSpace(key.Value)) continue;
            var names = Enum.GetNames(property.PropertyType);
            if (!names.Any(n => string.Equals(n, key.Value.Trim(), StringComparison.OrdinalIgnoreCase)))
                failures.Add($"{key.Path}: '{key.Value}' is not one of {string.Join(", ", names.Select(n => n.ToLowerInvariant()))}");
        }
        var bound = new T();
        if (failures.Count > before) return bound;
        try { section.Bind(bound); }
        catch (InvalidOperationException e) { failures.Add(e.Message); }
        return bound;
    }

    public static void ThrowIfAny<T>(IReadOnlyCollection<string> failures)
    {
        if (failures.Count > 0) throw new OptionsValidationException(Options.DefaultName, typeof(T), failures);
    }

    /// <summary>
    /// The operator's knobs as the service runs with them, each from the first that sets it:
    /// <see cref="AkkaMailOptions.HoconOverrides"/>, ASP.NET configuration (<see cref="KnobOverrides"/>), the HOCON file
    /// (<see cref="AkkaMailOptions.HoconPath"/>), then <see cref="ShippedKnobs"/>, so that an operator's file may hold
    /// only the knobs it changes.
    /// </summary>
    /// <exception cref="OptionsValidationException">A missing or unreadable file, a key that is no knob.</exception>
    public static Config LoadKnobs(AkkaMailOptions options, IConfiguration configuration)
    {
        var failures = new List<string>();
        var path = options.ResolveHoconPath();
        Config file = Config.Empty;
        if (!File.Exists(path))
            failures.Add($"{AkkaMailOptions.Section}:{nameof(AkkaMailOptions.HoconPath)}: no file at {Path.GetFullPath(path)}");
        else
        {
            try { file = ConfigurationFactory.ParseString(File.ReadAllText(path)); }
            catch (Exception e) when (e is ConfigurationException or FormatException or InvalidOperationException)
            {
                failures.Add($"{Path.GetFullPath(path)} (AkkaMail:HoconPath) is not valid HOCON: {e.Message}");
            }
        }
        ThrowIfAny<AkkaMailOptions>(failures);

        // A knob an operator set the old way must not be dropped in silence (a provider rate limit back to its default).
        foreach (var (variable, knob) in RetiredVariables)
            if (Environment.GetEnvironmentVariable(variable) is { } value)
                failures.Add($"{variable} is no longer read: set {ConfigurationKey(knob).Replace(":", "__")}={value} instead");

        file = file.WithFallback(ShippedKnobs);
        var knobs = KnobOverrides(file, configuration.GetSection(AkkaMailOptions.Section), failures).WithFallback(file);
        if (!string.IsNullOrWhiteSpace(options.HoconOverrides))
        {
            try { knobs = ConfigurationFactory.ParseString(options.HoconOverrides).WithFallback(knobs); }
            catch (Exception e) when (e is ConfigurationException or FormatException or InvalidOperationException)
            {
                failures.Add($"{AkkaMailOptions.Section}:{nameof(AkkaMailOptions.HoconOverrides)} is not valid HOCON: {e.Message}");
            }
        }
        ThrowIfAny<AkkaMailOptions>(failures);
        return knobs;
    }

    /// <summary>The environment variables that set knobs through the file's <c>${?VAR}</c> lines before one convention
    /// replaced them, with the knob each set.</summary>
    public static readonly IReadOnlyDictionary<string, string> RetiredVariables = new Dictionary<string, string>
    {
        ["AKKAMAIL_ASK_TIMEOUT"] = "akkamail.ask-timeout",
        ["AKKAMAIL_SEND_PARALLELISM"] = "akkamail.sender.parallelism",
        ["AKKAMAIL_RATE_PER_SECOND"] = "akkamail.sender.rate-limit.per-second",
        ["AKKAMAIL_RATE_BURST"] = "akkamail.sender.rate-limit.burst",
        ["AKKAMAIL_ATTEMPT_TIMEOUT"] = "akkamail.sender.attempt-timeout",
        ["AKKAMAIL_DISPATCH_BUFFER"] = "akkamail.dispatch.buffer-size",
        ["AKKAMAIL_DISPATCH_PARALLELISM"] = "akkamail.dispatch.parallelism",
        ["AKKAMAIL_RETRY_DEADLINE"] = "akkamail.retry.deadline",
        ["AKKAMAIL_RETRY_MAX_ATTEMPTS"] = "akkamail.retry.max-attempts",
        ["AKKAMAIL_RETRY_MIN_BACKOFF"] = "akkamail.retry.min-backoff",
        ["AKKAMAIL_RETRY_MAX_BACKOFF"] = "akkamail.retry.max-backoff",
        ["AKKAMAIL_RETRY_JITTER"] = "akkamail.retry.jitter",
        ["AKKAMAIL_PASSIVATION_TIMEOUT"] = "akkamail.email.passivation-timeout",
        ["AKKAMAIL_SNAPSHOT_EVERY"] = "akkamail.email.snapshot-every",
        ["AKKAMAIL_SKIP_RECOVERY_OF_NEW_EMAILS"] = "akkamail.email.skip-recovery-of-new-emails",
        ["AKKAMAIL_SWEEP_INTERVAL"] = "akkamail.sweep.interval",
        ["AKKAMAIL_SWEEP_PICKUP_TIMEOUT"] = "akkamail.sweep.pickup-timeout",
        ["AKKAMAIL_READ_MODEL_BATCH"] = "akkamail.read-model.batch-size",
        ["AKKAMAIL_READ_MODEL_WINDOW"] = "akkamail.read-model.batch-window",
        ["AKKAMAIL_READ_MODEL_CACHED_STATES"] = "akkamail.read-model.cached-states",
        ["AKKAMAIL_READ_MODEL_MAX_LAG"] = "akkamail.read-model.max-lag",
        ["AKKAMAIL_SANDBOX_DELIVERY_DELAY"] = "akkamail.sandbox.delivery-delay",
        ["AKKAMAIL_SHUTDOWN_DRAIN_TIMEOUT"] = "akkamail.shutdown.drain-timeout",
        ["AKKAMAIL_WEBHOOK_TOLERANCE"] = "akkamail.webhooks.timestamp-tolerance",
        ["AKKAMAIL_RABBITMQ_WORK_QUEUE"] = "akkamail.rabbitmq.work-queue",
        ["AKKAMAIL_RABBITMQ_DELAY_QUEUE_PREFIX"] = "akkamail.rabbitmq.delay-queue-prefix",
        ["AKKAMAIL_RABBITMQ_DEAD_LETTER_QUEUE"] = "akkamail.rabbitmq.dead-letter-queue",
        ["AKKAMAIL_RABBITMQ_PREFETCH"] = "akkamail.rabbitmq.prefetch",
        ["AKKAMAIL_RABBITMQ_PUBLISH_MAX_IN_FLIGHT"] = "akkamail.rabbitmq.publish-max-in-flight",
        ["AKKAMAIL_RABBITMQ_PUBLISH_TIMEOUT"] = "akkamail.rabbitmq.publish-timeout",
        ["AKKAMAIL_RABBITMQ_WORK_QUEUE_MAX_LENGTH"] = "akkamail.rabbitmq.work-queue-max-length",
        ["AKKAMAIL_RABBITMQ_RESTART_MIN_BACKOFF"] = "akkamail.rabbitmq.restart-min-backoff",
        ["AKKAMAIL_RABBITMQ_RESTART_MAX_BACKOFF"] = "akkamail.rabbitmq.restart-max-backoff",
    };

    /// <summary>Every knob with its default: hocon/akkamail.hocon as shipped (embedded in this assembly).</summary>
    public static Config ShippedKnobs => Shipped.Value;

    private static readonly Lazy<Config> Shipped = new(() =>
    {
        using var stream = typeof(AkkaMailConfiguration).Assembly.GetManifestResourceStream("AkkaMail.akkamail.hocon")
                           ?? throw new InvalidOperationException("The shipped hocon/akkamail.hocon is not embedded in AkkaMail.dll");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>
    /// The knobs of <paramref name="file"/>'s <c>akkamail</c> block that <paramref name="section"/> sets, as HOCON.
    /// A key of the section whose first part names no block or knob of the file is not a knob (other options bind it,
    /// e.g. AkkaMail:DataPath); below a block of the file, every key must name one of its knobs, so that a misspelt
    /// knob fails instead of being ignored. A list knob takes a configuration array (Key:0, Key:1, ...) or a
    /// comma-separated value.
    /// </summary>
    public static Config KnobOverrides(Config file, IConfigurationSection section, ICollection<string> failures)
    {
        var block = file.HasPath(RootKey) ? file.GetValue(RootKey) : null;
        if (block is null || !block.IsObject()) return Config.Empty;
        var hocon = new StringBuilder();
        foreach (var child in section.GetChildren())
        {
            if (FindKey(block.GetObject(), child.Key) is not { } key) continue;
            Override(child, $"{RootKey}.{key}", block.GetObject().Items[key], hocon, failures);
        }
        return hocon.Length == 0 ? Config.Empty : ConfigurationFactory.ParseString(hocon.ToString());
    }

    private const string RootKey = "akkamail";

    private static void Override(IConfigurationSection setting, string hoconPath, HoconValue inFile, StringBuilder hocon,
        ICollection<string> failures)
    {
        var children = setting.GetChildren().ToList();
        if (inFile.IsObject())
        {
            if (children.Count == 0)
            {
                failures.Add($"{setting.Path}: {hoconPath} is a block of knobs, not a value");
                return;
            }
            var knobs = inFile.GetObject();
            foreach (var child in children)
            {
                if (FindKey(knobs, child.Key) is { } key) Override(child, $"{hoconPath}.{key}", knobs.Items[key], hocon, failures);
                else failures.Add($"{child.Path}: no such knob in {hoconPath} (it has {string.Join(", ", knobs.Items.Keys)})");
            }
        }
        else if (inFile.IsArray())
        {
            var items = children.Count > 0
                ? children.OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue).Select(c => c.Value ?? "")
                : (setting.Value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            hocon.Append(hoconPath).Append(" = [").AppendJoin(", ", items.Select(Quote)).Append("]\n");
        }
        else if (children.Count > 0)
            failures.Add($"{setting.Path}: {hoconPath} is a value, not a block");
        else
            hocon.Append(hoconPath).Append(" = ").Append(Quote(setting.Value ?? "")).Append('\n');
    }

    /// <summary>A HOCON string; JSON's and the binder's True/False read as HOCON's on/off.</summary>
    private static string Quote(string value)
    {
        var v = value.Trim();
        if (bool.TryParse(v, out var b)) v = b ? "on" : "off";
        return "\"" + v.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }

    /// <summary>The key of <paramref name="block"/> that <paramref name="configurationKey"/> names: the same letters, case,
    /// dashes and underscores aside (RateLimit, rate-limit and Rate_Limit all name rate-limit).</summary>
    private static string? FindKey(HoconObject block, string configurationKey)
    {
        var wanted = Normalize(configurationKey);
        return block.Items.Keys.FirstOrDefault(k => Normalize(k) == wanted);
    }

    private static string Normalize(string key) =>
        new(key.Where(c => c != '-' && c != '_').Select(char.ToLowerInvariant).ToArray());

    /// <summary>The configuration key of a HOCON path: akkamail.sender.rate-limit.per-second is
    /// AkkaMail:Sender:RateLimit:PerSecond.</summary>
    public static string ConfigurationKey(string hoconPath) =>
        string.Join(':', hoconPath.Split('.').Select(part => part switch
        {
            RootKey => AkkaMailOptions.Section,
            "rabbitmq" => "RabbitMq",
            _ => string.Concat(part.Split('-').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..])),
        }));
}

/// <summary>
/// The settings each choice of <see cref="AkkaMailOptions"/> requires: the RabbitMQ URI for <c>rabbitmq</c>, the
/// connection string for <c>mongodb</c> and for <c>postgres</c>, the account for <c>mailgun</c>.
/// </summary>
/// <summary>
/// The settings that one choice in <see cref="AkkaMailOptions"/> needs outside the <c>AkkaMail</c> section, checked by the
/// module that makes the choice real (the Mailgun provider checks the <c>Mailgun</c> section when <c>AkkaMail:Provider</c> is
/// <c>mailgun</c>), so the core knows no provider's settings. Each failure names its key.
/// </summary>
public delegate IEnumerable<string> SettingsCheck(AkkaMailOptions options, IConfiguration configuration);

public sealed class AkkaMailOptionsValidator(IConfiguration configuration, IReadOnlyList<SettingsCheck> checks) : IValidateOptions<AkkaMailOptions>
{
    private static IEnumerable<string> ClusterFailures(AkkaMailOptions options)
    {
        var cluster = options.Cluster;
        const string key = AkkaMailOptions.Section + ":" + nameof(AkkaMailOptions.Cluster);
        var annotations = new List<ValidationResult>();
        if (!Validator.TryValidateObject(cluster, new ValidationContext(cluster), annotations, validateAllProperties: true))
            foreach (var r in annotations) yield return $"{key}:{r.MemberNames.FirstOrDefault()}: {r.ErrorMessage}";
        if (cluster.DownAfter <= TimeSpan.Zero) yield return $"{key}:DownAfter: must be positive";
        if (cluster.FormAfter <= TimeSpan.Zero) yield return $"{key}:FormAfter: must be positive";
        if (cluster.ReadSidePoll <= TimeSpan.Zero) yield return $"{key}:ReadSidePoll: must be positive";
        if (!Enum.IsDefined(cluster.ReadSide)) yield return $"{key}:ReadSide: must be Singleton or EveryNode";
        if (!cluster.Enabled || cluster.SeedNodes.Length == 0) yield break;
        for (var i = 0; i < cluster.SeedNodes.Length; i++)
            if (!Uri.TryCreate(cluster.SeedNodes[i], UriKind.Absolute, out var seed) || seed.Scheme != "akka.tcp" || seed.UserInfo != "akkamail" || seed.Port <= 0)
                yield return $"{key}:SeedNodes:{i}: '{cluster.SeedNodes[i]}' is not akka.tcp://akkamail@host:port";
        if (cluster.Port == 0)
            yield return $"{key}:Port: a node of a cluster of several nodes needs a fixed port (the others reach it there)";
        if (options.Store == StoreKind.Sqlite)
            yield return $"{AkkaMailOptions.Section}:Store: sqlite is one process's file; nodes of a cluster share postgres or mongodb";
    }

    public ValidateOptionsResult Validate(string? name, AkkaMailOptions options)
    {
        var failures = new List<string>();
        var annotations = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), annotations, validateAllProperties: true))
            failures.AddRange(annotations.Select(r => $"{AkkaMailOptions.Section}:{r.MemberNames.FirstOrDefault()}: {r.ErrorMessage}"));
        failures.AddRange(ClusterFailures(options));

        if (options.Transport == SendTransport.RabbitMq)
        {
            var uri = configuration[AkkaMailConfiguration.RabbitMqUriKey];
            if (string.IsNullOrWhiteSpace(uri))
                failures.Add($"{AkkaMailConfiguration.RabbitMqUriKey} is required when AkkaMail:Transport is rabbitmq " +
                             "(environment RabbitMq__Uri=amqp://user:password@host:5672/)");
            else if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("amqp" or "amqps"))
                failures.Add($"{AkkaMailConfiguration.RabbitMqUriKey}: '{uri}' is not an amqp:// or amqps:// URI");
        }

        if (options.Store == StoreKind.MongoDb && string.IsNullOrWhiteSpace(configuration.GetConnectionString(AkkaMailConfiguration.MongoConnectionStringName)))
            failures.Add($"ConnectionStrings:{AkkaMailConfiguration.MongoConnectionStringName} is required when AkkaMail:Store is mongodb " +
                         "(environment ConnectionStrings__MongoDb=mongodb://host:27017/?replicaSet=rs0)");

        if (options.Store == StoreKind.Postgres && PostgresConnectionStringProblem(
                configuration.GetConnectionString(AkkaMailConfiguration.PostgresConnectionStringName)) is { } problem)
            failures.Add(problem);

        if (configuration[OutboundWebhooks.WebhookSecretProtector.SettingKey] is { Length: > 0 } secretsKey
            && !OutboundWebhooks.WebhookSecretProtector.IsValidKey(secretsKey))
            failures.Add($"{OutboundWebhooks.WebhookSecretProtector.SettingKey}: not the base64 of 32 bytes (make one with: openssl rand -base64 32)");
        // Without it each node would encrypt endpoint secrets with a key file of its own, which the node delivering
        // (the outbound-webhooks singleton, wherever it runs) could not read.
        else if (options.Cluster is { Enabled: true, SeedNodes.Length: > 0 }
                 && string.IsNullOrWhiteSpace(configuration[OutboundWebhooks.WebhookSecretProtector.SettingKey]))
            failures.Add($"{OutboundWebhooks.WebhookSecretProtector.SettingKey} is required on every node of a cluster, the same on each " +
                         "(make one with: openssl rand -base64 32)");

        foreach (var check in checks) failures.AddRange(check(options, configuration));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private const string PostgresKey = "ConnectionStrings:" + AkkaMailConfiguration.PostgresConnectionStringName;

    /// <summary>What is wrong with the PostgreSQL connection string, or null. The string itself is never repeated: it
    /// holds a password.</summary>
    public static string? PostgresConnectionStringProblem(string? connectionString)
    {
        const string example = "(environment ConnectionStrings__Postgres=\"Host=db;Username=akkamail;Password=...;Database=akkamail\")";
        if (string.IsNullOrWhiteSpace(connectionString))
            return $"{PostgresKey} is required when AkkaMail:Store is postgres {example}";
        try
        {
            var parsed = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return string.IsNullOrWhiteSpace(parsed.Host) ? $"{PostgresKey} names no Host {example}" : null;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
        {
            return $"{PostgresKey} is not an Npgsql connection string: {e.Message.Split('\n')[0]} {example}";
        }
    }
}

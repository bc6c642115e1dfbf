using Akka.Configuration;

namespace AkkaMail.Persistence.Sqlite;

/// <summary>Entry point of the plugin's configuration.</summary>
public static class SqlitePersistence
{
    /// <summary>HOCON path of the journal plugin.</summary>
    public const string JournalPluginId = "akka.persistence.journal.sqlite";

    /// <summary>HOCON path of the snapshot store plugin.</summary>
    public const string SnapshotStorePluginId = "akka.persistence.snapshot-store.sqlite";

    private static readonly Lazy<Config> Reference = new(LoadReference);

    /// <summary>The plugin's reference configuration (the embedded <c>reference.conf</c>).</summary>
    public static Config DefaultConfig() => Reference.Value;

    private static Config LoadReference()
    {
        var assembly = typeof(SqlitePersistence).Assembly;
        using var stream = assembly.GetManifestResourceStream("AkkaMail.Persistence.Sqlite.reference.conf")
            ?? throw new InvalidOperationException("Embedded reference.conf of AkkaMail.Persistence.Sqlite not found.");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}

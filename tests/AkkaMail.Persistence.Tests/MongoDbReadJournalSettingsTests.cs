using AkkaMail.Persistence.MongoDb;
using Xunit;

namespace AkkaMail.Persistence.Tests;

/// <summary>The MongoDB read journal's settings, without a server.</summary>
public sealed class MongoDbReadJournalSettingsTests
{
    [Fact]
    public void Settings_come_from_the_read_journal_section_and_the_write_plugin()
    {
        var config = MongoDbPersistenceConfig.Create("mongodb://127.0.0.1:1", "db1");
        var settings = MongoDbReadJournalSettings.Create(config, config.GetConfig(MongoDbReadJournal.Identifier));
        Assert.Equal(MongoDbPersistence.JournalPluginId, settings.WritePluginId);
        Assert.Equal("db1", settings.Journal.Database);
        Assert.Equal("EventJournal", settings.Journal.JournalCollection);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.RefreshInterval);
        Assert.Equal(500, settings.MaxBufferSize);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.GapTimeout);
        Assert.Equal(
            "AkkaMail.Persistence.MongoDb.MongoDbReadJournalProvider, AkkaMail.Persistence.MongoDb",
            config.GetString(MongoDbReadJournal.Identifier + ".class"));
    }
}

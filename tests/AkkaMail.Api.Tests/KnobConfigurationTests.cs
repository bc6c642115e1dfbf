using Xunit;
using AkkaMail.Configuration;
using AkkaMail.Hosting;
using AkkaMail.Sending;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The operator's HOCON file under ASP.NET configuration: one key per knob (its HOCON path under AkkaMail), the file's
/// units, and precedence file &lt; appsettings &lt; environment &lt; command line &lt; AkkaMail:HoconOverrides.
/// </summary>
public sealed class KnobConfigurationTests
{
    private static readonly string HoconFile = Path.Combine(AppContext.BaseDirectory, "hocon", "akkamail.hocon");

    private static AkkaMailSettings Settings(params (string Key, string? Value)[] values) =>
        AkkaMailSettings.FromConfig(Knobs(values));

    private static Akka.Configuration.Config Knobs(params (string Key, string? Value)[] values)
    {
        var configuration = InMemory(values.Append(("AkkaMail:HoconPath", HoconFile)).ToArray());
        return AkkaMailConfiguration.LoadKnobs(AkkaMailConfiguration.ReadOptions(configuration), configuration);
    }

    private static IConfiguration InMemory(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    [Fact]
    public void The_file_holds_the_same_defaults_as_the_code()
    {
        Assert.Equal(new AkkaMailSettings(), Settings());
        Assert.Equal(new AkkaMailSettings(), AkkaMailSettings.FromConfig(AkkaMailConfiguration.ShippedKnobs));
        var rabbit = RabbitMqSendQueueSettings.FromConfig(Knobs(), "amqp://broker/");
        Assert.Equal(RabbitMqSendQueueSettings.DefaultBuckets, rabbit.DelayBuckets);
        Assert.Equal(new RabbitMqSendQueueSettings { Uri = "amqp://broker/", DelayBuckets = rabbit.DelayBuckets }, rabbit);
    }

    [Fact]
    public void An_environment_variable_overrides_the_files_knob()
    {
        const string prefix = "AKKAMAIL_KNOB_TEST_";
        string[] names = [prefix + "AkkaMail__Sender__Parallelism", prefix + "AkkaMail__Sender__Rate_Limit__Burst",
            prefix + "AkkaMail__Email__SkipRecoveryOfNewEmails"];
        Environment.SetEnvironmentVariable(names[0], "17");
        Environment.SetEnvironmentVariable(names[1], "250");
        Environment.SetEnvironmentVariable(names[2], "off");
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection([KeyValuePair.Create("AkkaMail:HoconPath", (string?)HoconFile)])
                .AddEnvironmentVariables(prefix)
                .Build();
            var settings = AkkaMailSettings.FromConfig(
                AkkaMailConfiguration.LoadKnobs(AkkaMailConfiguration.ReadOptions(configuration), configuration));
            Assert.Equal(17, settings.SendParallelism); // the file says 8
            Assert.Equal(250, settings.ProviderRateBurst); // Akka.Hosting's spelling (an underscore for a dash) works too
            Assert.False(settings.SkipRecoveryOfNewEmails);
            Assert.Equal(new AkkaMailSettings().ProviderRatePerSecond, settings.ProviderRatePerSecond); // the rest from the file
        }
        finally
        {
            foreach (var name in names) Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void The_command_line_wins_over_the_environment_and_HoconOverrides_over_both()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([KeyValuePair.Create("AkkaMail:HoconPath", (string?)HoconFile),
                KeyValuePair.Create("AkkaMail:Dispatch:Parallelism", (string?)"3")]) // stands for the environment
            .AddCommandLine(["--AkkaMail:Dispatch:Parallelism=5", "--akkamail:sweep:batch-size=70"])
            .Build();
        var options = AkkaMailConfiguration.ReadOptions(configuration);
        var settings = AkkaMailSettings.FromConfig(AkkaMailConfiguration.LoadKnobs(options, configuration));
        Assert.Equal(5, settings.DispatchParallelism);
        Assert.Equal(70, settings.SweepBatchSize); // the HOCON spelling, in any case, names the same knob

        options.HoconOverrides = "akkamail.dispatch.parallelism = 9";
        Assert.Equal(9, AkkaMailSettings.FromConfig(AkkaMailConfiguration.LoadKnobs(options, configuration)).DispatchParallelism);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("90s", 90_000)]
    [InlineData("1.5m", 90_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("3 seconds", 3_000)]
    public void Durations_take_the_files_units(string value, long milliseconds)
    {
        var settings = Settings(("AkkaMail:Sender:AttemptTimeout", value), ("AkkaMail:Retry:Deadline", value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), settings.AttemptTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), settings.Retry.Deadline);
    }

    [Fact]
    public void A_zero_deadline_means_none_and_then_needs_an_attempt_cap()
    {
        var capped = Settings(("AkkaMail:Retry:Deadline", "0"), ("AkkaMail:Retry:MaxAttempts", "5"));
        Assert.Null(capped.Retry.Deadline);
        Assert.Equal(5, capped.Retry.MaxAttempts);
        var forever = Assert.Throws<OptionsValidationException>(() => Settings(("AkkaMail:Retry:Deadline", "0")));
        Assert.StartsWith("AkkaMail:Retry:Deadline (akkamail.retry.deadline): 0 (no deadline) needs", Assert.Single(forever.Failures));
    }

    [Fact]
    public void A_list_knob_takes_a_comma_separated_value_or_an_array()
    {
        var fromValue = RabbitMqSendQueueSettings.FromConfig(Knobs(("AkkaMail:RabbitMq:DelayBuckets", "10s, 1s,1m")), "amqp://b/");
        Assert.Equal(new[] { TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1) }, fromValue.DelayBuckets);
        var fromArray = RabbitMqSendQueueSettings.FromConfig(
            Knobs(("AkkaMail:RabbitMq:DelayBuckets:0", "500ms"), ("AkkaMail:RabbitMq:DelayBuckets:1", "2h")), "amqp://b/");
        Assert.Equal(new[] { TimeSpan.FromMilliseconds(500), TimeSpan.FromHours(2) }, fromArray.DelayBuckets);
        var wrong = Assert.Throws<OptionsValidationException>(() =>
            RabbitMqSendQueueSettings.FromConfig(Knobs(("AkkaMail:RabbitMq:DelayBuckets", "1s,never")), "amqp://b/"));
        Assert.StartsWith("AkkaMail:RabbitMq:DelayBuckets (akkamail.rabbitmq.delay-buckets): '[1s, never]' is not a list of durations",
            Assert.Single(wrong.Failures));
    }

    [Fact]
    public void Every_retired_variable_names_a_knob_that_exists()
    {
        var shipped = AkkaMailConfiguration.ShippedKnobs;
        Assert.Equal(33, AkkaMailConfiguration.RetiredVariables.Count);
        Assert.All(AkkaMailConfiguration.RetiredVariables.Values, path => Assert.True(shipped.HasPath(path), path));
    }

    [Fact]
    public void An_operators_file_may_hold_only_the_knobs_it_changes()
    {
        var file = Path.Combine(Path.GetTempPath(), $"akkamail-knobs-{Guid.NewGuid():N}.hocon");
        File.WriteAllText(file, "akkamail.sender.parallelism = 3\n");
        try
        {
            var configuration = InMemory(("AkkaMail:HoconPath", file), ("AkkaMail:ReadModel:CachedStates", "5"));
            var knobs = AkkaMailConfiguration.LoadKnobs(AkkaMailConfiguration.ReadOptions(configuration), configuration);
            var settings = AkkaMailSettings.FromConfig(knobs);
            Assert.Equal(new AkkaMailSettings { SendParallelism = 3, ReadSideCachedStates = 5 }, settings);
            Assert.Equal(RabbitMqSendQueueSettings.DefaultBuckets, RabbitMqSendQueueSettings.FromConfig(knobs, "amqp://b/").DelayBuckets);
            var misspelt = Assert.Throws<OptionsValidationException>(() => AkkaMailConfiguration.LoadKnobs(
                AkkaMailConfiguration.ReadOptions(InMemory(("AkkaMail:HoconPath", file))),
                InMemory(("AkkaMail:ReadModel:CachedState", "5"))));
            Assert.StartsWith("AkkaMail:ReadModel:CachedState: no such knob in akkamail.read-model", Assert.Single(misspelt.Failures));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Keys_that_are_no_knob_of_the_file_are_left_to_the_other_options()
    {
        // AkkaMail:RateLimit is the API's per-user limit, AkkaMail:DataPath an option: neither is a block of the file.
        var settings = Settings(("AkkaMail:RateLimit:PerSecond", "1"), ("AkkaMail:DataPath", "elsewhere"));
        Assert.Equal(new AkkaMailSettings(), settings);
    }

    [Fact]
    public void A_misspelt_or_misplaced_knob_fails_with_its_key()
    {
        var misspelt = Assert.Throws<OptionsValidationException>(() => Knobs(("AkkaMail:Retry:MaxAttemps", "3")));
        Assert.StartsWith("AkkaMail:Retry:MaxAttemps: no such knob in akkamail.retry", Assert.Single(misspelt.Failures));
        var block = Assert.Throws<OptionsValidationException>(() => Knobs(("AkkaMail:Sender", "8")));
        Assert.Equal("AkkaMail:Sender: akkamail.sender is a block of knobs, not a value", Assert.Single(block.Failures));
        var value = Assert.Throws<OptionsValidationException>(() => Knobs(("AkkaMail:AskTimeout:Seconds", "8")));
        Assert.Equal("AkkaMail:AskTimeout: akkamail.ask-timeout is a value, not a block", Assert.Single(value.Failures));
    }

    [Fact]
    public void Out_of_bounds_knobs_are_all_reported_with_their_keys()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Settings(
            ("AkkaMail:Sender:Parallelism", "0"), ("AkkaMail:Retry:Jitter", "1.5"), ("AkkaMail:ReadModel:MaxLag", "0s"),
            ("AkkaMail:Retry:MinBackoff", "5m"), ("AkkaMail:Retry:MaxBackoff", "1m")));
        Assert.Equal(new[]
        {
            "AkkaMail:Retry:Jitter (akkamail.retry.jitter): must be between 0 and 1, is '1.5'",
            "AkkaMail:Retry:MaxBackoff (akkamail.retry.max-backoff): must be at least retry.min-backoff",
            "AkkaMail:Sender:Parallelism (akkamail.sender.parallelism): must be at least 1, is '0'",
            "AkkaMail:ReadModel:MaxLag (akkamail.read-model.max-lag): must be more than 0, is '0s'",
        }, e.Failures);
    }

    [Fact]
    public void Options_bind_enums_by_name_in_any_case()
    {
        var options = AkkaMailConfiguration.ReadOptions(InMemory(("AkkaMail:Transport", "RabbitMQ"), ("RabbitMq:Uri", "amqps://b/"),
            ("AkkaMail:Store", "mongodb"), ("ConnectionStrings:MongoDb", "mongodb://m/"), ("AkkaMail:LogLevel", "error")));
        Assert.Equal(SendTransport.RabbitMq, options.Transport);
        Assert.Equal(StoreKind.MongoDb, options.Store);
        Assert.Equal(ConsoleLogLevel.Error, options.LogLevel);
        var numeric = Assert.Throws<OptionsValidationException>(() => AkkaMailConfiguration.ReadOptions(InMemory(("AkkaMail:Transport", "1"))));
        Assert.Equal("AkkaMail:Transport: '1' is not one of inproc, rabbitmq", Assert.Single(numeric.Failures));
    }
}

using System.Diagnostics;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The real process (AkkaMail.Api.dll) started with an operator's mistake: it exits with EX_CONFIG (78) and a message
/// that names the key to fix, and writes no stack trace. Each case fails before anything listens or writes.
/// </summary>
public sealed class ConfigurationValidationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "akkamail-config-" + Guid.NewGuid().ToString("N"));

    public ConfigurationValidationTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string[], string> Mistakes => new()
    {
        // transport
        { ["--AkkaMail:Transport=rabbit"], "AkkaMail:Transport: 'rabbit' is not one of inproc, rabbitmq" },
        { ["--AkkaMail:Transport=rabbitmq"], "RabbitMq:Uri is required when AkkaMail:Transport is rabbitmq" },
        { ["--AkkaMail:Transport=rabbitmq", "--RabbitMq:Uri=http://broker"], "RabbitMq:Uri: 'http://broker' is not an amqp:// or amqps:// URI" },
        // provider
        { ["--AkkaMail:Provider=sendgrid"], "AkkaMail:Provider: 'sendgrid' is not one of sandbox, mailgun, smtp" },
        { ["--AkkaMail:Provider=smtp"], "Smtp:Host is required when the smtp provider is used (environment Smtp__Host)" },
        { ["--AkkaMail:Route:0=mailgun", "--AkkaMail:Route:1=smtp", "--Mailgun:ApiKey=key-1", "--Mailgun:Domain=mg.example.com",
            "--Smtp:Host=smtp.example.com", "--Smtp:Username=app"],
            "Smtp:Password is required with Smtp:Username (and only with it) when the smtp provider is used (environment Smtp__Password)" },
        { ["--AkkaMail:Route:0=sandbox", "--AkkaMail:Route:1=mailgun", "--Mailgun:ApiKey=key-1"],
            "Mailgun:Domain is required when AkkaMail:Provider is mailgun (environment Mailgun__Domain)" },
        { ["--AkkaMail:Breaker:Failures=1"], "AkkaMail:Breaker:Failures (akkamail.breaker.failures): must be at least 2, is '1'" },
        // store
        { ["--AkkaMail:Store=oracle"], "AkkaMail:Store: 'oracle' is not one of sqlite, mongodb, postgres" },
        { ["--AkkaMail:Store=mongodb"], "ConnectionStrings:MongoDb is required when AkkaMail:Store is mongodb" },
        { ["--AkkaMail:Store=postgres"], "ConnectionStrings:Postgres is required when AkkaMail:Store is postgres" },
        { ["--AkkaMail:Store=postgres", "--ConnectionStrings:Postgres=Host=db;Password=s3cret;Colour=blue"],
            "ConnectionStrings:Postgres is not an Npgsql connection string" },
        // Mailgun
        { ["--AkkaMail:Provider=mailgun", "--Mailgun:Domain=mg.example.com"],
            "Mailgun:ApiKey is required when AkkaMail:Provider is mailgun (environment Mailgun__ApiKey)" },
        { ["--AkkaMail:Provider=mailgun", "--Mailgun:ApiKey=key-1"],
            "Mailgun:Domain is required when AkkaMail:Provider is mailgun (environment Mailgun__Domain)" },
        { ["--AkkaMail:Provider=mailgun", "--Mailgun:ApiKey=key-1", "--Mailgun:Domain=mg.example.com", "--Mailgun:Timeout=soon"],
            "'Mailgun:Timeout'" },
        // other options and knobs
        { ["--AkkaMail:LogLevel=loud"], "AkkaMail:LogLevel: 'loud' is not one of verbose, debug, information, warning, error, fatal" },
        { ["--AkkaMail:LogFormat=xml"], "AkkaMail:LogFormat: 'xml' is not one of text, json" },
        { ["--AkkaMail:Sender:Paralelism=4"], "AkkaMail:Sender:Paralelism: no such knob in akkamail.sender" },
        { ["--AkkaMail:Sender:Parallelism=0"], "AkkaMail:Sender:Parallelism (akkamail.sender.parallelism): must be at least 1, is '0'" },
        { ["--AkkaMail:HoconPath=nowhere.hocon"], "AkkaMail:HoconPath: no file at" },
        { ["--AkkaMail:RateLimit:Burst=0"], "AkkaMail:RateLimit:Burst: must be at least 1, is 0" },
        // cluster
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:SeedNodes:0=akka.tcp://other@10.0.0.1:4053"],
            "AkkaMail:Cluster:SeedNodes:0: 'akka.tcp://other@10.0.0.1:4053' is not akka.tcp://akkamail@host:port" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:SeedNodes:0=akka.tcp://akkamail@10.0.0.1:4053"],
            "AkkaMail:Cluster:Port: a node of a cluster of several nodes needs a fixed port" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:SeedNodes:0=akka.tcp://akkamail@10.0.0.1:4053", "--AkkaMail:Cluster:Port=4053"],
            "AkkaMail:Store: sqlite is one process's file" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:SeedNodes:0=akka.tcp://akkamail@10.0.0.1:4053", "--AkkaMail:Cluster:Port=4053"],
            "OutboundWebhooks:SecretsKey is required on every node of a cluster, the same on each" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:FormAfter=00:00:00"], "AkkaMail:Cluster:FormAfter: must be positive" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:ReadSidePoll=00:00:00"], "AkkaMail:Cluster:ReadSidePoll: must be positive" },
        { ["--AkkaMail:Cluster:Enabled=true", "--AkkaMail:Cluster:ReadSide=sometimes"], "AkkaMail:Cluster:ReadSide" },
        // outbound webhooks
        { ["--OutboundWebhooks:SecretsKey=too-short"], "OutboundWebhooks:SecretsKey: not the base64 of 32 bytes" },
        { ["--AkkaMail:OutboundWebhooks:MinBackoff=2m", "--AkkaMail:OutboundWebhooks:MaxBackoff=1m"],
            "AkkaMail:OutboundWebhooks:MaxBackoff (akkamail.outbound-webhooks.max-backoff): must be at least outbound-webhooks.min-backoff" },
        { ["--AkkaMail:OutboundWebhooks:AllowLoopback=maybe"], "AkkaMail:OutboundWebhooks:AllowLoopback (akkamail.outbound-webhooks.allow-loopback): 'maybe' is not on or off" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public async Task A_wrong_or_missing_setting_stops_the_process_with_its_key(string[] args, string expected)
    {
        var (exitCode, output) = await RunAsync(args, new Dictionary<string, string>());
        Assert.True(exitCode == 78, $"exit code {exitCode}, output:\n{output}");
        Assert.Contains("AkkaMail cannot start: its configuration is invalid.", output);
        Assert.Contains(expected, output);
        Assert.DoesNotContain("   at ", output); // no stack trace
        Assert.False(File.Exists(Path.Combine(_dir, "data", "admin.key")), "nothing was initialized");
    }

    [Fact]
    public async Task Environment_variables_follow_the_same_keys_and_all_mistakes_are_reported_at_once()
    {
        var (exitCode, output) = await RunAsync([], new Dictionary<string, string>
        {
            ["AkkaMail__Transport"] = "kafka",
            ["AkkaMail__Sender__AttemptTimeout"] = "soon",
            ["AkkaMail__Sender__RateLimit__PerSecond"] = "lots",
        });
        Assert.True(exitCode == 78, $"exit code {exitCode}, output:\n{output}");
        Assert.Contains("AkkaMail:Transport: 'kafka' is not one of inproc, rabbitmq", output);

        // With the options right, the knobs are checked, every one of them before the process ends.
        (exitCode, output) = await RunAsync([], new Dictionary<string, string>
        {
            ["AkkaMail__Sender__AttemptTimeout"] = "soon",
            ["AkkaMail__Sender__Rate_Limit__Per_Second"] = "lots",
        });
        Assert.True(exitCode == 78, $"exit code {exitCode}, output:\n{output}");
        Assert.Contains("AkkaMail:Sender:AttemptTimeout (akkamail.sender.attempt-timeout): 'soon' is not a duration", output);
        Assert.Contains("AkkaMail:Sender:RateLimit:PerSecond (akkamail.sender.rate-limit.per-second): 'lots' is not a whole number", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task A_knob_set_by_its_retired_variable_stops_the_process_with_its_new_key()
    {
        var (exitCode, output) = await RunAsync([], new Dictionary<string, string> { ["AKKAMAIL_RATE_PER_SECOND"] = "300" });
        Assert.True(exitCode == 78, $"exit code {exitCode}, output:\n{output}");
        Assert.Contains("AKKAMAIL_RATE_PER_SECOND is no longer read: set AkkaMail__Sender__RateLimit__PerSecond=300 instead", output);
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string[] args, Dictionary<string, string> environment)
    {
        // Only what the case sets: none of the runner's own settings.
        var start = ServiceProcess.StartInfo(_dir, Path.Combine(_dir, "data"), args);
        foreach (var (name, value) in environment) start.Environment[name] = value;

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The service did not stop within 60 s: {string.Join(' ', args)}\n{await stdout}{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}

using AkkaMail.Api;
using AkkaMail.Api.Operations;
using Microsoft.Extensions.Options;
using Serilog;

Log.Logger = new LoggerConfiguration().WriteTo.Console().CreateBootstrapLogger();
try
{
    if (args.Contains(ReadModelRebuild.Verb))
        return await ReadModelRebuild.RunAsync(args, Console.Out);
    var app = await AkkaMailApp.BuildAsync(args);
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (InvalidConfiguration(ex) is { Count: > 0 } failures)
{
    // An operator's mistake, not a bug: what to fix, each with its key, and no stack trace. 78 is sysexits' EX_CONFIG.
    await Console.Error.WriteLineAsync("AkkaMail cannot start: its configuration is invalid.");
    foreach (var failure in failures) await Console.Error.WriteLineAsync("  " + failure);
    return 78;
}
catch (Exception ex)
{
    Log.Fatal(ex, "AkkaMail failed to start");
    return 1;
}
finally
{
    await Log.CloseAndFlushAsync();
}

// Options validated on start may fail together (an AggregateException of them).
static IReadOnlyList<string> InvalidConfiguration(Exception ex) => ex switch
{
    OptionsValidationException invalid => invalid.Failures.ToList(),
    AggregateException all when all.InnerExceptions.All(e => e is OptionsValidationException) =>
        all.InnerExceptions.SelectMany(e => ((OptionsValidationException)e).Failures).ToList(),
    _ => [],
};

/// <summary>Visible to WebApplicationFactory-style tests.</summary>
public partial class Program;

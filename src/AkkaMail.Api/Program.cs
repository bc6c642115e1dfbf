using AkkaMail.Api;
using AkkaMail.Api.Operations;
using Serilog;

if (args.Contains(ReadModelRebuild.Verb))
    return await ReadModelRebuild.RunAsync(args, Console.Out);

Log.Logger = new LoggerConfiguration().WriteTo.Console().CreateBootstrapLogger();
try
{
    var app = await AkkaMailApp.BuildAsync(args);
    await app.RunAsync();
    return 0;
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

/// <summary>Visible to WebApplicationFactory-style tests.</summary>
public partial class Program;

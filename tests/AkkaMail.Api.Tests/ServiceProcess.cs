using System.Diagnostics;

namespace AkkaMail.Api.Tests;

/// <summary>How the tests start the real service process (AkkaMail.Api.dll beside them) on a random loopback port.</summary>
public static class ServiceProcess
{
    /// <summary>Output redirected; none of the runner's own <c>__</c> settings inherited, so only <paramref name="args"/> configure it.</summary>
    public static ProcessStartInfo StartInfo(string workingDirectory, string dataPath, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AkkaMail.Api.dll"));
        foreach (var a in new[] { "--urls", "http://127.0.0.1:0", $"--AkkaMail:DataPath={dataPath}" }.Concat(args))
            start.ArgumentList.Add(a);
        foreach (var name in start.Environment.Keys.Where(k => k.Contains("__", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        return start;
    }
}

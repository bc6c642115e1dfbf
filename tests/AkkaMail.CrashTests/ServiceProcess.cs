using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace AkkaMail.CrashTests;

/// <summary>
/// The service (AkkaMail.Api.dll, copied next to the tests) as a child process on a fixed loopback port and data
/// folder, so that it can be killed with SIGKILL and started again on the same journal, read model and port.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly IReadOnlyList<string> _args;
    private readonly IReadOnlyDictionary<string, string> _env;
    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;
    private int _incarnation;
    private int _copied;
    private volatile bool _quiet;

    public ServiceProcess(ITestOutputHelper output, int port, string dataPath, IEnumerable<string> args, IReadOnlyDictionary<string, string> env)
    {
        _output = output;
        Port = port;
        DataPath = dataPath;
        _args = [.. args];
        _env = env;
    }

    public int Port { get; }
    public string DataPath { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");
    public int Starts => _incarnation;
    public string AdminKeyPath => Path.Combine(DataPath, "admin.key");
    /// <summary>Every line the service wrote, prefixed by its incarnation.</summary>
    public IReadOnlyCollection<string> Log => _log;

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the process and waits until /health/ready answers 200 (and the admin key exists). Returns the time it took.</summary>
    public async Task<TimeSpan> StartAsync(TimeSpan? within = null)
    {
        if (_process is { HasExited: false }) throw new InvalidOperationException("already running");
        var limit = within ?? TimeSpan.FromSeconds(60);
        var clock = Stopwatch.StartNew();
        // A port just released by a killed process can be refused for a moment: a process that exits at once is started again.
        for (var attempt = 1; ; attempt++)
        {
            var incarnation = Interlocked.Increment(ref _incarnation);
            var psi = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = AppContext.BaseDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AkkaMail.Api.dll"));
            foreach (var a in new[] { "--urls", BaseAddress.ToString().TrimEnd('/'), $"--AkkaMail:DataPath={DataPath}", "--AkkaMail:LogLevel=Warning", "--environment", "Testing" })
                psi.ArgumentList.Add(a);
            foreach (var a in _args) psi.ArgumentList.Add(a);
            foreach (var (k, v) in _env) psi.Environment[k] = v;
            var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, e) => Record(incarnation, e.Data);
            process.ErrorDataReceived += (_, e) => Record(incarnation, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _process = process;

            using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(3) };
            while (clock.Elapsed < limit && !process.HasExited)
            {
                try
                {
                    if (File.Exists(AdminKeyPath) && (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK)
                        return clock.Elapsed;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await Task.Delay(100);
            }
            if (!process.HasExited) break;
            if (attempt >= 3 || clock.Elapsed >= limit) break;
            WriteLine($"service incarnation {incarnation} exited with {process.ExitCode} while starting; starting again");
            await Task.Delay(500);
        }
        var tail = string.Join(Environment.NewLine, _log.TakeLast(40));
        throw new InvalidOperationException($"the service was not ready within {limit} (exited: {_process?.HasExited}); last output:{Environment.NewLine}{tail}");
    }

    /// <summary>SIGKILL at once, from whatever thread (e.g. the very moment an answer arrived); <see cref="KillAsync"/> then waits.</summary>
    public void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } p) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* already gone */ }
    }

    /// <summary>SIGKILL, the whole process tree; waits until it is gone.</summary>
    public async Task KillAsync()
    {
        var p = _process;
        if (p is null) return;
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* already gone */ }
        await p.WaitForExitAsync();
        p.Dispose();
        _process = null;
    }

    /// <summary>A graceful stop (SIGTERM, as an orchestrator sends): waits until the process has exited.</summary>
    public async Task StopAsync(TimeSpan within)
    {
        var p = _process;
        if (p is null) return;
        if (!p.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", p.Id.ToString()])) await term.WaitForExitAsync();
            using var cts = new CancellationTokenSource(within);
            try { await p.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { p.Kill(entireProcessTree: true); await p.WaitForExitAsync(); }
        }
        p.Dispose();
        _process = null;
    }

    public bool Running => _process is { HasExited: false };

    /// <summary>Lines (expected warnings) not copied to the test output; still kept in <see cref="Log"/>.</summary>
    public Func<string, bool>? Ignore { get; set; }

    /// <summary>Stop copying the service's output to the test output (e.g. once the test is about to end).</summary>
    public void Quiet() => _quiet = true;

    public async Task<string> AdminKeyAsync() => (await File.ReadAllTextAsync(AdminKeyPath)).Trim();

    private void Record(int incarnation, string? line)
    {
        if (line is null) return;
        var text = $"[svc#{incarnation}] {line}";
        _log.Enqueue(text);
        // Warnings and errors only (LogLevel=Warning); bounded so a noisy run does not drown the report.
        if (!_quiet && Ignore?.Invoke(line) != true && Interlocked.Increment(ref _copied) <= 200) WriteLine(text);
    }

    private void WriteLine(string text)
    {
        try { _output.WriteLine(text); }
        catch (InvalidOperationException) { /* the test is over */ }
    }

    public async ValueTask DisposeAsync()
    {
        _quiet = true;
        await KillAsync();
    }
}

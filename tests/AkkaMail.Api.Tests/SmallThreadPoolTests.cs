using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The service as its own process, with the thread pool capped at 3 threads (fixed at process start, so not in
/// this test process). Akka starts its scheduler on first use and blocks the caller until it runs; started by our
/// actors' first timers at once on pool threads, it hung the service at startup in 4 of 5 runs with this cap.
/// </summary>
public sealed class SmallThreadPoolTests(ITestOutputHelper output)
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task With_a_thread_pool_of_three_threads_the_service_starts_and_sends()
    {
        // Several starts: the hang depended on how the actors' first timers raced.
        for (var start = 1; start <= 3; start++)
            await StartAndSendAsync(start);
    }

    private async Task StartAndSendAsync(int start)
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "akkamail-test-pool-" + Guid.NewGuid().ToString("N"));
        var port = FreePort();
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "AkkaMail.Api.dll"), "--urls", $"http://127.0.0.1:{port}",
                     $"--AkkaMail:DataPath={dataPath}", "--AkkaMail:LogLevel=Warning", "--environment", "Testing",
                 })
            psi.ArgumentList.Add(arg);
        psi.Environment["DOTNET_ThreadPool_ForceMaxWorkerThreads"] = "3";
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var anon = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            var keyFile = Path.Combine(dataPath, "admin.key");
            var deadline = Stopwatch.StartNew();
            var ready = false;
            while (!ready && deadline.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
                try { ready = File.Exists(keyFile) && (await anon.GetAsync("/health/ready")).IsSuccessStatusCode; }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                if (!ready) await Task.Delay(200);
            }
            Assert.True(ready, $"start {start}: not ready within 60 s (exited: {process.HasExited})");

            using var client = new HttpClient { BaseAddress = anon.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization =
                new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(keyFile)).Trim());
            var ids = new List<string>();
            for (var i = 0; i < 20; i++)
            {
                var r = await client.PostJsonAsync("/api/emails", Json.ValidEmail($"user{i}@example.com"));
                Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
                ids.Add((await r.ReadJsonAsync())["id"]!.GetValue<string>());
            }
            foreach (var id in ids)
                await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() is "sent" or "delivered", TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { }
        }
    }
}

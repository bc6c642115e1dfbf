using System.Net;
using System.Net.Http.Json;
using AkkaMail.MailgunFake;
using Xunit;
using Xunit.Abstractions;

namespace AkkaMail.Api.Tests;

/// <summary>Stopping the host mid-run (what SIGTERM does) and starting again sends every email exactly once.</summary>
public sealed class GracefulShutdownTests(ITestOutputHelper output) : IAsyncLifetime
{
    private MailgunFakeServer _fake = null!;
    private readonly string _dataPath = Path.Combine(Path.GetTempPath(), "akkamail-test-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync() => _fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions
    {
        Domain = "mg.shutdown.test",
        ApiKey = "key-shutdown",
        Latency = TimeSpan.FromMilliseconds(100),
        WebhookEvents = [],
    });

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dataPath, recursive: true); } catch (IOException) { }
    }

    private Task<ServiceHost> StartAsync() => ServiceHost.StartAsync(_dataPath,
        hoconOverrides: "akkamail.sender.parallelism = 16, akkamail.sender.rate-limit.per-second = 5000, akkamail.sender.rate-limit.burst = 5000",
        extraArgs:
        [
            "--AkkaMail:Provider=mailgun",
            $"--Mailgun:BaseUrl={_fake.BaseUrl}",
            $"--Mailgun:Domain={_fake.Domain}",
            $"--Mailgun:ApiKey={_fake.ApiKey}",
        ]);

    [Fact]
    public async Task Stopping_during_a_run_of_2000_emails_then_restarting_sends_each_exactly_once()
    {
        const int total = 2000;
        var host = await StartAsync();
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        using (var client = host.AdminClient())
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                var r = await client.PostAsJsonAsync("/api/emails", Json.ValidEmail($"r{i}@example.com"), ct);
                Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
                ids.Add((await r.ReadJsonAsync())["id"]!.GetValue<string>());
            });
        }
        var sentBeforeStop = _fake.AcceptedCount;
        var stopping = DateTime.UtcNow;
        await host.StopAsync();
        output.WriteLine($"stopped after {sentBeforeStop} of {total} were sent; the stop took {(DateTime.UtcNow - stopping).TotalSeconds:0.0} s " +
                         $"and let {_fake.AcceptedCount - sentBeforeStop} in-flight sends finish");
        Assert.True(sentBeforeStop < total, "the provider was too fast: the stop came after every email was sent");

        host = await StartAsync();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (_fake.AcceptedCount < total && DateTime.UtcNow < deadline) await Task.Delay(200);
            await Task.Delay(1000); // time for a duplicate, if any, to show up
            var perEmail = _fake.Messages.GroupBy(m => m.Variables["email-id"]).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(ids.ToHashSet(), perEmail.Keys.ToHashSet());
            Assert.All(perEmail, kv => Assert.Equal(1, kv.Value));

            using var client = host.AdminClient();
            foreach (var id in ids.Take(50))
                await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "sent", TimeSpan.FromSeconds(10));
        }
        finally
        {
            await host.StopAsync();
        }
    }
}

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The storage figures over real HTTP (SQLite, sandbox outbox, a controllable clock): GET /api/admin/storage and /metrics
/// move when emails are sent, when retention removes their bodies and when it removes the emails; an unsettled email's
/// figures never move.
/// </summary>
public sealed class StorageFiguresTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private ServiceHost _host = null!;

    // Figures measured at every request here (the cache's age is wall time); the sweep only at start (the scheduled
    // email stays unsettled whatever the clock says).
    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        hoconOverrides: "akkamail.sweep.interval = 1h\nakkamail.retention.storage-figures-max-age = 1ms",
        configure: b => b.Services.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<RetentionRun> RunRetentionAsync()
    {
        var job = _host.App.Services.GetRequiredService<ActorRegistry>().Get<RetentionActor>();
        var run = await job.Ask<RetentionRun>(RetentionActor.RunNow.Instance, TimeSpan.FromSeconds(30));
        Assert.Null(run.Error);
        return run;
    }

    private sealed record Figures(long Emails, long BodyBytesHeld, long BodyBytesRemoved, long EnvelopeBytes);

    private static Figures FiguresOf(JsonNode? n) => n is null ? new Figures(0, 0, 0, 0) : new Figures(
        n["emails"]!.GetValue<long>(), n["bodyBytesHeld"]!.GetValue<long>(), n["bodyBytesRemoved"]!.GetValue<long>(),
        n["envelopeBytes"]!.GetValue<long>());

    private static async Task<(Figures Totals, Figures User, JsonNode Body)> StorageAsync(HttpClient admin, string userId)
    {
        var r = await admin.GetAsync("/api/admin/storage?limit=1000");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await r.ReadJsonAsync();
        var user = body["users"]!.AsArray().FirstOrDefault(u => u!["userId"]!.GetValue<string>() == userId);
        return (FiguresOf(body["totals"]), FiguresOf(user?["storage"]), body);
    }

    /// <summary>Asks until the read side has caught up and the figures satisfy <paramref name="until"/>.</summary>
    private static async Task<(Figures Totals, Figures User, JsonNode Body)> StorageUntilAsync(HttpClient admin, string userId,
        Func<Figures, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var s = await StorageAsync(admin, userId);
            if (until(s.User)) return s;
            if (DateTime.UtcNow > deadline) Assert.Fail($"The figures of {userId} stayed {s.User}");
            await Task.Delay(100);
        }
    }

    /// <summary>The value of a series of /metrics with these labels (null: no such series), asking until it is
    /// <paramref name="expected"/> (the gauges report the latest figures, measured again in the background).</summary>
    private static async Task<long?> MetricAsync(HttpClient admin, string name, long expected, params string[] labels)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long? value;
        do
        {
            var text = await admin.GetStringAsync("/metrics");
            value = text.Split('\n')
                .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l.Contains))
                .Select(l => (long?)long.Parse(l[(l.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture))
                .FirstOrDefault();
            if (value == expected) return value;
            await Task.Delay(100);
        } while (DateTime.UtcNow < deadline);
        return value;
    }

    [Fact]
    public async Task The_figures_move_when_emails_are_sent_when_bodies_are_removed_and_when_emails_are_removed()
    {
        using var admin = _host.AdminClient();
        var created = await (await admin.PostJsonAsync("/api/users", new { name = "storage" })).ReadJsonAsync();
        var userId = created["id"]!.GetValue<string>();
        using var user = _host.Client(created["apiKey"]!.GetValue<string>());

        // Only the admin; a limit in bounds.
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/api/admin/storage")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Client().GetAsync("/api/admin/storage")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/api/admin/storage?limit=0")).StatusCode);
        var (totals0, none, _) = await StorageAsync(admin, userId);
        Assert.Equal(new Figures(0, 0, 0, 0), none);

        // Three emails sent (text, HTML and an attachment each), one scheduled a week ahead (never settles here: the sweep that would send it runs only at start).
        var text = new string('t', 10_000);
        var html = "<p>" + new string('h', 5_000) + "</p>";
        var content = Convert.ToBase64String(new byte[3_000]);
        long sentBodies = Encoding.UTF8.GetByteCount(text) + Encoding.UTF8.GetByteCount(html) + "a.bin".Length + "application/octet-stream".Length + content.Length;
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var post = await user.PostJsonAsync("/api/emails", new
            {
                from = "app@example.com", to = new[] { $"reader{i}@example.com" }, subject = $"storage {i}", text, html,
                attachments = new[] { new { fileName = "a.bin", contentType = "application/octet-stream", content } },
            });
            Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
            ids.Add((await post.ReadJsonAsync())["id"]!.GetValue<string>());
        }
        var scheduledText = new string('s', 2_000);
        var scheduled = await user.PostJsonAsync("/api/emails", new
        {
            from = "app@example.com", to = new[] { "later@example.com" }, subject = "later", text = scheduledText,
            sendAt = _clock.GetUtcNow().AddDays(7),
        });
        Assert.Equal(HttpStatusCode.Accepted, scheduled.StatusCode);
        foreach (var id in ids)
            await user.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));

        var (totals, sent, body) = await StorageUntilAsync(admin, userId, f => f.Emails == 4 && f.BodyBytesHeld == 3 * sentBodies + 2_000);
        Assert.Equal(0, sent.BodyBytesRemoved);
        Assert.InRange(sent.EnvelopeBytes, 4 * 200, 4 * 5_000);
        Assert.Equal(totals0.Emails + 4, totals.Emails);
        Assert.True(totals.BodyBytesHeld >= sent.BodyBytesHeld);
        Assert.Equal(sent.BodyBytesHeld + sent.EnvelopeBytes, body["users"]!.AsArray()
            .First(u => u!["userId"]!.GetValue<string>() == userId)!["storage"]!["bytesHeld"]!.GetValue<long>());
        var disk = body["disk"]!.AsArray().ToDictionary(p => p!["part"]!.GetValue<string>(), p => p!["bytes"]!.GetValue<long>());
        Assert.True(disk["journal"] > 3 * sentBodies, $"journal {disk["journal"]}");
        Assert.True(disk["read_model"] > 0);
        Assert.True(disk["outbox"] > 3 * 10_000, $"outbox {disk["outbox"]}");
        Assert.Equal(3 * sentBodies + 2_000, await MetricAsync(admin, "akkamail_storage_user_email_bytes", 3 * sentBodies + 2_000,
            $"user=\"{userId}\"", "part=\"bodies_held\""));
        Assert.Equal(4, await MetricAsync(admin, "akkamail_storage_user_emails", 4, $"user=\"{userId}\""));

        // Eight days later: the sent emails' bodies are removed, the scheduled one's held; nothing else moves.
        _clock.Advance(TimeSpan.FromDays(8));
        Assert.Equal(3, (await RunRetentionAsync()).BodiesRemoved);
        var (_, stripped, _) = await StorageAsync(admin, userId);
        Assert.Equal(new Figures(4, 2_000, 3 * sentBodies, stripped.EnvelopeBytes), stripped);
        Assert.Equal(3 * sentBodies, await MetricAsync(admin, "akkamail_storage_user_email_bytes", 3 * sentBodies,
            $"user=\"{userId}\"", "part=\"bodies_removed\""));

        // Ninety-one days: the sent emails are gone; the scheduled one is all that is left.
        _clock.Advance(TimeSpan.FromDays(83));
        Assert.Equal(3, (await RunRetentionAsync()).EmailsRemoved);
        var (_, left, _) = await StorageAsync(admin, userId);
        Assert.Equal((1L, 2_000L, 0L), (left.Emails, left.BodyBytesHeld, left.BodyBytesRemoved));
        Assert.InRange(left.EnvelopeBytes, 200, stripped.EnvelopeBytes / 3);
        Assert.Equal(1, await MetricAsync(admin, "akkamail_storage_user_emails", 1, $"user=\"{userId}\""));
    }
}

using System.Net;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>
/// Retention on the embedded defaults (SQLite journal and read model, sandbox outbox) with a controllable clock: the
/// raw files are searched for what the policies say is gone.
/// </summary>
public sealed class RetentionTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private ServiceHost _host = null!;

    // The dispatch sweep would send the scheduled email once the clock passes its time: it runs only at start here.
    // Idle email actors stop within a second or two, so that the compacted email recovers from its snapshot.
    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        hoconOverrides: "akkamail.sweep.interval = 1h\nakkamail.email.passivation-timeout = 1s",
        configure: b => b.Services.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<RetentionRun> RunRetentionAsync()
    {
        var job = _host.App.Services.GetRequiredService<ActorRegistry>().Get<RetentionActor>();
        return await job.Ask<RetentionRun>(RetentionActor.RunNow.Instance, TimeSpan.FromSeconds(30));
    }

    /// <summary>Every file under the data folder (database files with their logs, the outbox) holding the text's UTF-8 bytes.</summary>
    private List<string> FilesHolding(string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        var holding = new List<string>();
        foreach (var path in Directory.EnumerateFiles(_host.DataPath, "*", SearchOption.AllDirectories))
        {
            // The single-instance lock is held exclusively and empty.
            if (Path.GetFileName(path) == "akkamail.lock") continue;
            byte[] bytes;
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            using (var m = new MemoryStream())
            {
                f.CopyTo(m);
                bytes = m.ToArray();
            }
            if (bytes.AsSpan().IndexOf(needle) >= 0) holding.Add(Path.GetRelativePath(_host.DataPath, path));
        }
        return holding;
    }

    [Fact]
    public async Task Bodies_go_after_n_days_and_envelopes_after_m_days_while_an_unsettled_email_is_never_touched()
    {
        using var client = _host.AdminClient();
        var marker = Guid.NewGuid().ToString("N")[..12];
        var text = $"text-body-{marker}";
        var html = $"html-body-{marker}";
        var attachment = Convert.ToBase64String(Encoding.UTF8.GetBytes($"attached-{marker}"));
        var subject = $"subject-{marker}";
        var address = $"reader-{marker}@example.com";
        var scheduledText = $"scheduled-body-{marker}";

        var post = await client.PostJsonAsync("/api/emails", new
        {
            from = "app@example.com", to = new[] { address }, subject, text, html = $"<p>{html}</p>",
            attachments = new[] { new { fileName = "a.txt", contentType = "text/plain", content = attachment } },
        });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));
        var scheduled = await client.PostJsonAsync("/api/emails", new
        {
            from = "app@example.com", to = new[] { "later@example.com" }, subject = "later", text = scheduledText,
            sendAt = _clock.GetUtcNow().AddDays(7),
        });
        Assert.Equal(HttpStatusCode.Accepted, scheduled.StatusCode);
        var scheduledId = (await scheduled.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(scheduledId, e => e["status"]!.GetValue<string>() == "scheduled", TimeSpan.FromSeconds(10));

        // Where they are before any policy applies: the journal and the outbox hold the bodies.
        Assert.Contains("events.db", string.Join(",", FilesHolding(text)));
        Assert.Contains(Path.Combine("outbox", $"{id}.eml"), FilesHolding(html));
        Assert.NotEmpty(FilesHolding(attachment));
        Assert.NotEmpty(FilesHolding(scheduledText));

        // Six days after settling: nothing yet.
        _clock.Advance(TimeSpan.FromDays(6));
        var early = await RunRetentionAsync();
        Assert.Null(early.Error);
        Assert.Equal((0, 0), (early.BodiesRemoved, early.EmailsRemoved));
        Assert.NotEmpty(FilesHolding(text));

        // Eight days: the bodies are gone from every file, the envelope stays and reads as before.
        _clock.Advance(TimeSpan.FromDays(2));
        var bodies = await RunRetentionAsync();
        Assert.Null(bodies.Error);
        Assert.Equal((1, 0), (bodies.BodiesRemoved, bodies.EmailsRemoved));
        Assert.Empty(FilesHolding(text));
        Assert.Empty(FilesHolding(html));
        Assert.Empty(FilesHolding(attachment));
        Assert.NotEmpty(FilesHolding(subject));
        var kept = await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync();
        Assert.Equal(subject, kept["subject"]!.GetValue<string>());
        Assert.Equal("delivered", kept["status"]!.GetValue<string>());
        Assert.Equal(address, kept["recipients"]![0]!["address"]!.GetValue<string>());
        // The scheduled email (now overdue, still unsettled) keeps its body.
        Assert.NotEmpty(FilesHolding(scheduledText));
        Assert.Equal("scheduled", (await (await client.GetAsync($"/api/emails/{scheduledId}")).ReadJsonAsync())["status"]!.GetValue<string>());
        // Recovered from the compaction snapshot once its actor stopped: the envelope without the bodies.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var recovered = Assert.IsType<AkkaMail.Gateway.EmailStateResult.Found>(
            await _host.App.Services.GetRequiredService<AkkaMail.Gateway.IEmailGateway>().GetStateAsync(id)).State;
        Assert.NotNull(recovered.BodiesRemovedAt);
        Assert.Equal(subject, recovered.Content!.Subject);
        Assert.Null(recovered.Content.Text);
        Assert.Empty(recovered.Content.Attachments);
        Assert.Equal(AkkaMail.Domain.EmailStatus.Delivered, recovered.Status);
        // Visible: the last run in readiness details, the totals in /metrics.
        var ready = await (await client.GetAsync("/health/ready")).ReadJsonAsync();
        Assert.Contains("bodies of 1 removed, 0 emails removed", ready["checks"]!["retention"]!["detail"]!.GetValue<string>());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(@"akkamail_retention_bodies_removed_total(\{[^}]*\})? 1\b", metrics);
        Assert.Matches(@"akkamail_storage_bytes(_By)?\{[^}]*part=""journal""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"akkamail_storage_bytes(_By)?\{[^}]*part=""outbox""[^}]*\} 0\b", metrics);
        // A second run finds the bodies already removed.
        var again = await RunRetentionAsync();
        Assert.Equal((0, 0), (again.BodiesRemoved, again.EmailsRemoved));

        // Ninety-one days: the email is gone everywhere; the unsettled one is still there, body and all.
        _clock.Advance(TimeSpan.FromDays(83));
        var envelopes = await RunRetentionAsync();
        Assert.Null(envelopes.Error);
        Assert.Equal((0, 1), (envelopes.BodiesRemoved, envelopes.EmailsRemoved));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/emails/{id}")).StatusCode);
        Assert.Empty(FilesHolding(subject));
        Assert.Empty(FilesHolding(address));
        Assert.NotEmpty(FilesHolding(scheduledText));
        Assert.Equal("scheduled", (await (await client.GetAsync($"/api/emails/{scheduledId}")).ReadJsonAsync())["status"]!.GetValue<string>());
    }
}

/// <summary>
/// Retention on PostgreSQL (journal and snapshots through Akka.Persistence.Sql, the read model on Npgsql) with a
/// controllable clock: the tables are searched for what the policies say is gone, deleted rows included.
/// </summary>
public sealed class PostgresRetentionTests : IAsyncLifetime
{
    private readonly AkkaMail.Tests.Postgres.PostgresTestDatabase _database = new("akkamail_retention");
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        hoconOverrides: "akkamail.sweep.interval = 1h\nakkamail.retention.storage-figures-max-age = 1ms",
        extraArgs: ["--AkkaMail:Store=postgres", $"--ConnectionStrings:Postgres={_database.ConnectionString}"],
        configure: b => b.Services.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Npgsql.NpgsqlConnection.ClearAllPools();
        _database.Dispose();
    }

    /// <summary>Rows of the journal (deleted ones too), the snapshot store and the read model whose bytes hold the text.</summary>
    private async Task<(long Journal, long Snapshots, long Emails)> RowsHoldingAsync(string text)
    {
        await using var c = new Npgsql.NpgsqlConnection(_database.ConnectionString);
        await c.OpenAsync();
        async Task<long> CountAsync(string sql)
        {
            await using var cmd = new Npgsql.NpgsqlCommand(sql, c);
            cmd.Parameters.AddWithValue("needle", Encoding.UTF8.GetBytes(text));
            return (long)(await cmd.ExecuteScalarAsync())!;
        }
        return (await CountAsync("SELECT count(*) FROM journal WHERE position(@needle IN message) > 0"),
            await CountAsync("SELECT count(*) FROM snapshot WHERE position(@needle IN snapshot) > 0"),
            await CountAsync("SELECT count(*) FROM emails WHERE position(@needle IN doc) > 0"));
    }

    [Fact]
    public async Task Bodies_then_envelopes_leave_the_journal_the_snapshots_and_the_read_model()
    {
        using var client = _host.AdminClient();
        var marker = Guid.NewGuid().ToString("N")[..12];
        var text = $"text-body-{marker}";
        var subject = $"subject-{marker}";
        var address = $"reader-{marker}@example.com";
        var post = await client.PostJsonAsync("/api/emails", new { from = "app@example.com", to = new[] { address }, subject, text });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(15));
        Assert.Equal(1, (await RowsHoldingAsync(text)).Journal);
        // The storage figures on PostgreSQL: the body held, the tables' sizes on disk (Akka.Persistence.Sql's as the journal).
        // (Once the read side stored the email: the figures are the read model's.)
        var storage = await (await client.GetAsync("/api/admin/storage")).ReadJsonAsync();
        for (var tries = 0; storage["totals"]!["emails"]!.GetValue<long>() == 0 && tries < 100; tries++)
        {
            await Task.Delay(100);
            storage = await (await client.GetAsync("/api/admin/storage")).ReadJsonAsync();
        }
        Assert.Equal((1L, (long)text.Length, 0L), (storage["totals"]!["emails"]!.GetValue<long>(),
            storage["totals"]!["bodyBytesHeld"]!.GetValue<long>(), storage["totals"]!["bodyBytesRemoved"]!.GetValue<long>()));
        var disk = storage["disk"]!.AsArray().ToDictionary(p => p!["part"]!.GetValue<string>(), p => p!["bytes"]!.GetValue<long>());
        Assert.True(disk["journal"] > 0 && disk["read_model"] > 0, string.Join(", ", disk));

        var job = _host.App.Services.GetRequiredService<ActorRegistry>().Get<RetentionActor>();
        _clock.Advance(TimeSpan.FromDays(8));
        var bodies = await job.Ask<RetentionRun>(RetentionActor.RunNow.Instance, TimeSpan.FromSeconds(30));
        Assert.Equal((1, 0, (string?)null), (bodies.BodiesRemoved, bodies.EmailsRemoved, bodies.Error));
        Assert.Equal((0L, 0L, 0L), await RowsHoldingAsync(text));
        var envelope = await RowsHoldingAsync(subject);
        Assert.True(envelope.Snapshots == 1 && envelope.Emails == 1, $"the envelope stays: {envelope}");
        Assert.Equal(subject, (await (await client.GetAsync($"/api/emails/{id}")).ReadJsonAsync())["subject"]!.GetValue<string>());
        storage = await (await client.GetAsync("/api/admin/storage")).ReadJsonAsync();
        Assert.Equal((1L, 0L, (long)text.Length), (storage["totals"]!["emails"]!.GetValue<long>(),
            storage["totals"]!["bodyBytesHeld"]!.GetValue<long>(), storage["totals"]!["bodyBytesRemoved"]!.GetValue<long>()));

        _clock.Advance(TimeSpan.FromDays(83));
        var envelopes = await job.Ask<RetentionRun>(RetentionActor.RunNow.Instance, TimeSpan.FromSeconds(30));
        Assert.Equal((0, 1, (string?)null), (envelopes.BodiesRemoved, envelopes.EmailsRemoved, envelopes.Error));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/emails/{id}")).StatusCode);
        Assert.Equal((0L, 0L, 0L), await RowsHoldingAsync(subject));
        Assert.Equal((0L, 0L, 0L), await RowsHoldingAsync(address));
        storage = await (await client.GetAsync("/api/admin/storage")).ReadJsonAsync();
        Assert.Equal(0L, storage["totals"]!["emails"]!.GetValue<long>());
    }
}

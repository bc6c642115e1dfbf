using System.Net;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>One email all the way through the embedded defaults: SQLite, in-process queue, sandbox provider.</summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Posted_email_is_delivered_within_two_seconds_with_its_timeline_and_eml_file()
    {
        using var client = _host.AdminClient();
        var started = DateTime.UtcNow;
        var post = await client.PostJsonAsync("/api/emails", new
        {
            from = "App <app@example.com>",
            to = new[] { "alice@example.com", "Bob <bob@example.com>" },
            cc = new[] { "carol@example.com" },
            subject = "Your receipt",
            text = "Thanks!",
            html = "<p>Thanks!</p>",
            tags = new[] { "receipt" },
            headers = new Dictionary<string, string> { ["X-Campaign"] = "spring" },
            variables = new Dictionary<string, string> { ["order"] = "42" },
        });
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var accepted = await post.ReadJsonAsync();
        var id = accepted["id"]!.GetValue<string>();
        Assert.Equal("queued", accepted["status"]!.GetValue<string>());
        Assert.Equal($"/api/emails/{id}", post.Headers.Location!.OriginalString);

        var email = await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(2) - (DateTime.UtcNow - started));
        var types = email["timeline"]!.AsArray().Select(t => t!["type"]!.GetValue<string>()).ToList();
        // Our acceptance once; the provider's, per recipient, under its own name.
        Assert.Single(types, "accepted");
        Assert.Equal(3, types.Count(t => t == "accepted_by_provider"));
        Assert.Contains("sending", types);
        Assert.Contains("sent", types);
        Assert.Equal(3, types.Count(t => t == "delivered"));
        Assert.All(email["timeline"]!.AsArray(), t => Assert.True(DateTimeOffset.Parse(t!["at"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.All(email["recipients"]!.AsArray(), r => Assert.Equal("delivered", r!["status"]!.GetValue<string>()));

        var eml = await File.ReadAllTextAsync(Path.Combine(_host.OutboxPath, $"{id}.eml"));
        Assert.Contains("Subject: Your receipt", eml);
        Assert.Contains("X-Campaign: spring", eml);
        Assert.Contains("bob@example.com", eml);
    }

    [Fact]
    public async Task The_original_specifications_path_sends_too()
    {
        using var client = _host.AdminClient();
        var post = await client.PostJsonAsync("/api/emails/send", Json.ValidEmail());
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Unknown_email_is_404_problem()
    {
        using var client = _host.AdminClient();
        var r = await client.GetAsync("/api/emails/does-not-exist");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Restart_keeps_every_email_and_its_state()
    {
        using (var client = _host.AdminClient())
        {
            var id = (await (await client.PostJsonAsync("/api/emails", Json.ValidEmail())).ReadJsonAsync())["id"]!.GetValue<string>();
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
            await _host.StopAsync();
            _host = await ServiceHost.StartAsync(_host.DataPath);
            using var again = _host.AdminClient();
            var email = await again.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(5));
            Assert.Equal(id, email["id"]!.GetValue<string>());
        }
    }
}

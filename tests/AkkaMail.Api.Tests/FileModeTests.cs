using System.Net;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>Issue #16, item 7: the data folder and everything in it is the service user's alone (0700 / 0600).</summary>
public sealed class FileModeTests
{
    [Fact]
    public async Task A_fresh_data_folder_is_0700_and_every_file_in_it_0600_after_one_email()
    {
        if (OperatingSystem.IsWindows()) return;
        await using var host = await ServiceHost.StartAsync();
        using var client = host.AdminClient();
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail("modes@example.com"));
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
        await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));

        const UnixFileMode dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var wrong = new List<string>();
        Assert.True(File.Exists(Path.Combine(host.OutboxPath, id + ".eml")));
        foreach (var d in Directory.GetDirectories(host.DataPath, "*", SearchOption.AllDirectories).Prepend(host.DataPath))
            if (File.GetUnixFileMode(d) != dir) wrong.Add($"{d}: {File.GetUnixFileMode(d)}");
        var files = Directory.GetFiles(host.DataPath, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith("events.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("akkamail.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("admin.key", StringComparison.Ordinal));
        foreach (var f in files)
            if (File.GetUnixFileMode(f) != file) wrong.Add($"{f}: {File.GetUnixFileMode(f)}");
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }
}

using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace AkkaMail.Api.Tests;

/// <summary>The dashboard's storage panel in a real headless Chromium (as <see cref="DashboardBrowserTests"/>): the admin
/// sees the totals, its own row and the disk parts; a user is told the figures are the admin's.</summary>
public sealed class StorageDashboardTests : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(
        hoconOverrides: "akkamail.retention.storage-figures-max-age = 1ms");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static async Task<(IPlaywright, IBrowser, IPage, List<string>)> OpenAsync(ServiceHost host, string key)
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync" },
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1000 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(host.BaseAddress.ToString());
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("live");
        return (playwright, browser, page, errors);
    }

    [SkippableFact]
    public async Task The_admin_sees_the_storage_figures_and_a_user_is_told_they_are_the_admins()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; test.sh does)");
        using (var admin = _host.AdminClient())
        {
            var post = await admin.PostJsonAsync("/api/emails", Json.ValidEmail());
            var id = (await post.ReadJsonAsync())["id"]!.GetValue<string>();
            await admin.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(10));
        }

        var (playwright, browser, page, errors) = await OpenAsync(_host, _host.AdminKey);
        using (playwright)
        await using (browser)
        {
            await page.ClickAsync("#storage-refresh");
            await Expect(page.Locator("#storage-rows tr").First).ToContainTextAsync("all users");
            await Expect(page.Locator("#storage-rows tr").Nth(1).Locator("td").Nth(1)).ToHaveTextAsync("1");
            await Expect(page.Locator("#storage-summary")).ToContainTextAsync("journal");
            Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));
        }

        var key = await _host.CreateUserKeyAsync("storage-user");
        (playwright, browser, page, errors) = await OpenAsync(_host, key);
        using (playwright)
        await using (browser)
        {
            await page.ClickAsync("#storage-refresh");
            await Expect(page.Locator("#storage-summary")).ToContainTextAsync("Only the admin key");
            await Expect(page.Locator("#storage-table")).ToBeHiddenAsync();
            Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));
        }
    }
}

using System.Net;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The dashboard's search, email detail (recipients, timeline, sandboxed preview), suppressions and API keys in a real
/// headless Chromium (Debian's /usr/bin/chromium through Playwright, never a downloaded browser). Screenshots go to
/// TestResults/, and to docs/ (dashboard-search.png, dashboard-email.png, dashboard-account.png, dashboard-phone.png)
/// when AKKAMAIL_UPDATE_SCREENSHOT=1.
/// </summary>
public sealed class DashboardSearchBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [SkippableFact]
    public async Task Sign_in_see_the_charts_search_open_an_email_with_its_preview_lift_a_suppression_create_and_revoke_a_key()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; test.sh does)");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var key = await _host.CreateUserKeyAsync("search-user");
        using var client = _host.Client(key);

        async Task<string> SendAsync(object email)
        {
            var r = await client.PostJsonAsync("/api/emails", email);
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
            var id = (await r.ReadJsonAsync())["id"]!.GetValue<string>();
            await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
            return id;
        }
        var invoice = await SendAsync(new
        {
            from = "Shop <shop@example.com>", to = new[] { "zora@example.com" }, subject = "Invoice 7781 for Zora", tags = new[] { "invoice" },
            text = "Your invoice", html = "<h1>Invoice 7781</h1><p>Hello <b>Zora</b>, thank you.</p><script>parent.document.title = 'pwned'</script>",
        });
        await SendAsync(new { from = "Shop <shop@example.com>", to = new[] { "max@example.com" }, subject = "Weekly digest", text = "Plain words only." });
        for (var i = 0; i < 3; i++)
            await SendAsync(new { from = "Shop <shop@example.com>", to = new[] { $"reader{i}@example.com" }, subject = $"Newsletter {i}", text = "News" });
        var promo = await SendAsync(new { from = "Shop <shop@example.com>", to = new[] { "complainer@example.com" }, subject = "Promo", text = "Buy" });
        await _host.App.Services.GetRequiredService<IEmailGateway>().ApplyProviderEventAsync(promo,
            new ProviderEvent(Guid.NewGuid().ToString(), ProviderEventKind.Complained, "complainer@example.com", DateTimeOffset.UtcNow));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await client.GetAsync("/api/suppressions/complainer@example.com")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(50);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync" },
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        // The preview's script is refused by the frame's sandbox: the browser says so, and that is expected (and checked).
        var scriptBlocked = false;
        page.Console += (_, m) =>
        {
            if (m.Type != "error" || m.Text.StartsWith("Failed to load resource")) return;
            if (m.Text.StartsWith("Blocked script execution in 'about:srcdoc'")) scriptBlocked = true;
            else errors.Add(m.Text);
        };
        // A GET of an email heard of live may 404 while the read model catches up (the dashboard retries); nothing else may fail.
        page.Response += (_, r) =>
        {
            if (r.Status >= 400 && !(r.Status == 404 && r.Request.Method == "GET" && r.Url.Contains("/api/emails/")))
                errors.Add($"{r.Status} {r.Request.Method} {r.Url}");
        };

        await page.GotoAsync(_host.BaseAddress.ToString());
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("live");
        await Expect(page.Locator("#who")).ToHaveTextAsync("search-user");

        // The statistics of the emails just sent: the summary counts them and the charts draw them.
        await Expect(page.Locator("#stats-summary")).ToContainTextAsync("6 accepted", new() { Timeout = 20_000 });
        foreach (var chart in new[] { "#stats-volume", "#stats-rates", "#stats-latency" })
            await Expect(page.Locator($"{chart} canvas")).ToHaveCountAsync(1);
        await Screenshot(page, "dashboard-stats.png");

        // Search: by address, then by a word with a status filter.
        await page.GetByLabel("Words, addresses or ids").FillAsync("zora@example.com");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#search-items tr")).ToHaveCountAsync(1);
        await Expect(page.Locator("#search-items tr").First).ToContainTextAsync("Invoice 7781 for Zora");
        await page.FillAsync("#search-q", "newsletter");
        await page.SelectOptionAsync("#search-status", "delivered");
        await page.ClickAsync("#search-form button[type=submit]");
        await Expect(page.Locator("#search-items tr")).ToHaveCountAsync(3);
        await Screenshot(page, "dashboard-search.png");

        // The email: summary, recipient's fate, timeline, and the HTML in a sandboxed frame whose script does not run.
        await page.FillAsync("#search-q", "7781");
        await page.SelectOptionAsync("#search-status", "");
        await page.ClickAsync("#search-form button[type=submit]");
        await page.Locator($"#search-items tr[data-id='{invoice}']").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#details")).ToBeFocusedAsync();
        await Expect(page.Locator("#timeline")).ToContainTextAsync("delivered");
        await Expect(page.Locator("#details-recipients")).ToContainTextAsync("zora@example.com");
        await Expect(page.Locator("#details-recipients")).ToContainTextAsync("delivered");
        await Expect(page.FrameLocator("#preview-html").Locator("b")).ToHaveTextAsync("Zora");
        Assert.Equal("", await page.Locator("#preview-html").GetAttributeAsync("sandbox"));
        Assert.Equal("AkkaMail", await page.TitleAsync());
        Assert.True(scriptBlocked, "the browser did not report the preview's script as blocked");
        await page.Locator("#details").ScrollIntoViewIfNeededAsync();
        await Screenshot(page, "dashboard-email.png");

        // A text-only email shows its text part.
        await page.FillAsync("#search-q", "digest");
        await page.ClickAsync("#search-form button[type=submit]");
        await page.ClickAsync("#search-items tr");
        await Expect(page.Locator("#preview-text")).ToHaveTextAsync("Plain words only.");
        await Expect(page.Locator("#preview-html")).ToBeHiddenAsync();

        // Suppressions: lift one.
        await Expect(page.Locator("#suppression-items")).ToContainTextAsync("complainer@example.com");
        await page.GetByRole(AriaRole.Button, new() { Name = "Lift the suppression of complainer@example.com" }).ClickAsync();
        await Expect(page.Locator("#suppressions-result")).ToContainTextAsync("Lifted");
        await Expect(page.Locator("#suppression-items")).Not.ToContainTextAsync("complainer@example.com");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/suppressions/complainer@example.com")).StatusCode);

        // API keys: create one (shown once), then revoke it; it is refused at once.
        await Expect(page.Locator("#key-items tr")).ToHaveCountAsync(1);
        await page.ClickAsync("#key-create");
        await Expect(page.Locator("#key-created-value")).Not.ToHaveValueAsync("");
        await Expect(page.Locator("#key-created-value")).ToBeFocusedAsync();
        var created = await page.Locator("#key-created-value").InputValueAsync();
        Assert.False(string.IsNullOrEmpty(created));
        var keyId = await page.Locator("#key-created").GetAttributeAsync("data-key-id");
        await Expect(page.Locator("#key-items tr")).ToHaveCountAsync(2);
        using (var second = _host.Client(created))
            Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/users/me")).StatusCode);
        await page.ClickAsync($"#key-items tr[data-key-id='{keyId}'] button");
        await Expect(page.Locator($"#key-items tr[data-key-id='{keyId}']")).ToContainTextAsync("revoked");
        using (var revoked = _host.Client(created))
            Assert.Equal(HttpStatusCode.Unauthorized, (await revoked.GetAsync("/api/users/me")).StatusCode);
        await page.Locator("#keys").ScrollIntoViewIfNeededAsync();
        await Screenshot(page, "dashboard-account.png");

        // At phone width the page still lays out in one column.
        await page.SetViewportSizeAsync(390, 844);
        await page.FillAsync("#search-q", "zora");
        await page.ClickAsync("#search-form button[type=submit]");
        await Expect(page.Locator("#search-items tr")).ToHaveCountAsync(1);
        var overflowing = await page.EvaluateAsync<string>("""
            [...document.querySelectorAll("body *")].filter((e) => {
              if (!e.offsetParent || e.getBoundingClientRect().right <= window.innerWidth + 1) return false;
              for (let p = e.parentElement; p; p = p.parentElement) if (["auto", "hidden", "scroll"].includes(getComputedStyle(p).overflowX)) return false;
              return true;
            }).slice(0, 6).map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ")
            """);
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth + 1"),
            "the page scrolls sideways at phone width: " + overflowing);
        await page.Locator("#search").ScrollIntoViewIfNeededAsync();
        await Screenshot(page, "dashboard-phone.png", fullPage: false);

        Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));

        // The admin key: the users panel creates a user, whose first key is shown once and works.
        var adminPage = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        var adminErrors = new List<string>();
        adminPage.PageError += (_, e) => adminErrors.Add(e);
        await adminPage.GotoAsync(_host.BaseAddress.ToString());
        await adminPage.FillAsync("#api-key", _host.AdminKey);
        await adminPage.ClickAsync("#sign-in-form button");
        await Expect(adminPage.Locator("#users")).ToBeVisibleAsync();
        // The panel lists the stored users (the admin itself and the user who searched above), one page here.
        await Expect(adminPage.Locator("#user-items tr")).ToHaveCountAsync(2);
        await Expect(adminPage.Locator("#user-items tr", new() { HasText = "search-user" })).ToBeVisibleAsync();
        await Expect(adminPage.Locator("#users-more")).ToBeHiddenAsync();
        await adminPage.GetByLabel("Name").FillAsync("new-shop");
        await adminPage.ClickAsync("#user-form button[type=submit]");
        await Expect(adminPage.Locator("#user-created-key")).Not.ToHaveValueAsync("");
        // The created user is listed at once: its id, and the one key it was created with.
        var createdId = await adminPage.Locator("#user-created-id").TextContentAsync();
        var createdRow = adminPage.Locator($"#user-items tr[data-user-id='{createdId}']");
        await Expect(createdRow).ToContainTextAsync("new-shop");
        await Expect(createdRow.Locator("td").Nth(4)).ToHaveTextAsync("1");
        await Expect(adminPage.Locator("#user-items tr")).ToHaveCountAsync(3);
        await adminPage.Locator("#users").ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard-users.png") });
        using (var newUser = _host.Client(await adminPage.Locator("#user-created-key").InputValueAsync()))
            Assert.Equal("new-shop", (await (await newUser.GetAsync("/api/users/me")).ReadJsonAsync())["name"]!.GetValue<string>());
        Assert.True(adminErrors.Count == 0, "browser errors: " + string.Join(" | ", adminErrors));
    }

    private async Task Screenshot(IPage page, string name, bool fullPage = true)
    {
        var shot = Path.Combine(AppContext.BaseDirectory, "TestResults", name);
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(new() { Path = shot, FullPage = fullPage });
        output.WriteLine($"screenshot: {shot}");
        if (Environment.GetEnvironmentVariable("AKKAMAIL_UPDATE_SCREENSHOT") == "1" && RepoRoot() is { } root)
            File.Copy(shot, Path.Combine(root, "docs", name), overwrite: true);
    }

    private static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AkkaMail.sln"))) return dir.FullName;
        return null;
    }
}

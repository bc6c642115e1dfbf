using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; never a downloaded
/// browser): sign in, send from the form, watch the row turn delivered without a reload. Saves a screenshot
/// to TestResults/dashboard.png in the test output (and to docs/dashboard.png when AKKAMAIL_UPDATE_SCREENSHOT=1).
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync(hoconOverrides: "akkamail.sandbox.delivery-delay=700ms");
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [SkippableFact]
    public async Task Sign_in_send_from_the_form_and_see_the_row_turn_delivered_without_reload()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; test.sh does)");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var key = await _host.CreateUserKeyAsync("dashboard-user");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync" },
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 820 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        // Failed requests are checked by URL below; a GET of an email heard of live may 404 while the read model
        // catches up (the dashboard retries), anything else is an error.
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource")) errors.Add(m.Text); };
        page.Response += (_, r) =>
        {
            if (r.Status >= 400 && !(r.Status == 404 && r.Request.Method == "GET" && r.Url.Contains("/api/emails/")))
                errors.Add($"{r.Status} {r.Request.Method} {r.Url}");
        };

        await page.GotoAsync(_host.BaseAddress.ToString());
        await page.FillAsync("#api-key", "not-a-key");
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#sign-in-error")).ToContainTextAsync("not accepted");
        errors.Clear(); // the 401 of the bad key is logged by the browser

        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("live");
        await page.EvaluateAsync("window.__sameDocument = true");

        // Mail sent by others (here: the REST API) shows up live too.
        using var client = _host.Client(key);
        foreach (var (to, subject) in new[] { ("carol@example.com", "Your invoice #1041"), ("dave@example.com", "Password reset") })
            await client.PostJsonAsync("/api/emails", new { from = "Shop <shop@example.com>", to = new[] { to }, subject, text = "Hello" });

        var started = DateTime.UtcNow;
        await page.FillAsync("#compose [name=from]", "Shop <shop@example.com>");
        await page.FillAsync("#compose [name=to]", "alice@example.com, bob@example.com");
        await page.FillAsync("#compose [name=subject]", "Your order has shipped");
        await page.FillAsync("#compose [name=text]", "It is on its way.");
        await page.ClickAsync("#compose button");
        await Expect(page.Locator("#compose-result")).ToContainTextAsync("Accepted");
        var id = await page.Locator("#compose-result").GetAttributeAsync("data-id");
        Assert.False(string.IsNullOrEmpty(id));

        var status = page.Locator($"tr[data-id='{id}'] td.status");
        await Expect(status).ToHaveTextAsync("delivered", new() { Timeout = 10_000 });
        output.WriteLine($"row {id} turned delivered {(DateTime.UtcNow - started).TotalMilliseconds:F0} ms after the form was filled");
        Assert.True(await page.EvaluateAsync<bool>("window.__sameDocument === true"), "the page was reloaded");
        await Expect(page.Locator($"tr[data-id='{id}'] td.subject")).ToHaveTextAsync("Your order has shipped");

        await page.ClickAsync($"tr[data-id='{id}']");
        await Expect(page.Locator("#timeline")).ToContainTextAsync("delivered");
        await Expect(page.Locator("#emails tr")).ToHaveCountAsync(3);
        await Expect(page.Locator("#emails td.status")).ToHaveTextAsync(new[] { "delivered", "delivered", "delivered" }, new() { Timeout = 10_000 });
        foreach (var counter in new[] { "accepted", "sent", "delivered" })
            await Expect(page.Locator($"#count-{counter}")).ToHaveTextAsync("3");
        await Expect(page.Locator("#count-failed")).ToHaveTextAsync("0");

        var shot = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        output.WriteLine($"screenshot: {shot}");
        if (Environment.GetEnvironmentVariable("AKKAMAIL_UPDATE_SCREENSHOT") == "1" && RepoRoot() is { } root)
            File.Copy(shot, Path.Combine(root, "docs", "dashboard.png"), overwrite: true);

        Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));
    }

    [SkippableFact]
    public async Task Pick_a_template_fill_its_variables_preview_and_send()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; test.sh does)");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var key = await _host.CreateUserKeyAsync("template-user");
        using (var client = _host.Client(key))
            Assert.Equal(System.Net.HttpStatusCode.Created, (await client.PostJsonAsync("/api/templates", new
                { name = "shipped", subject = "Order {{ order }} shipped", text = "Hi {{ name }}", html = "<p>Hi <b>{{ name }}</b></p>" })).StatusCode);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync" },
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1000 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(_host.BaseAddress.ToString());
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#template-name option")).ToHaveTextAsync("shipped (v1)");

        // A missing variable: the strict template's 400 names it.
        await page.FillAsync("#template-send [name=variables]", "{\"name\": \"Ann\"}");
        await page.ClickAsync("#template-preview");
        await Expect(page.Locator("#template-result")).ToContainTextAsync("variables.order");

        await page.FillAsync("#template-send [name=variables]", "{\"name\": \"Ann <3\", \"order\": 42}");
        await page.ClickAsync("#template-preview");
        await Expect(page.Locator("#rendered-subject")).ToHaveTextAsync("Order 42 shipped");
        await Expect(page.Locator("#rendered-text")).ToHaveTextAsync("Hi Ann <3");
        await Expect(page.FrameLocator("#rendered-html").Locator("b")).ToHaveTextAsync("Ann <3");

        await page.FillAsync("#template-send [name=from]", "Shop <shop@example.com>");
        await page.FillAsync("#template-send [name=to]", "ann@example.com");
        await page.ClickAsync("#template-send button[type=submit]");
        await Expect(page.Locator("#template-result")).ToContainTextAsync("Accepted");
        await Expect(page.Locator("#template-result")).ToContainTextAsync("shipped v1");
        var id = await page.Locator("#template-result").GetAttributeAsync("data-id");
        await Expect(page.Locator($"tr[data-id='{id}'] td.status")).ToHaveTextAsync("delivered", new() { Timeout = 10_000 });
        await Expect(page.Locator($"tr[data-id='{id}'] td.subject")).ToHaveTextAsync("Order 42 shipped", new() { Timeout = 10_000 });

        var shot = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard-template.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        output.WriteLine($"screenshot: {shot}");
        Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));
    }

    [SkippableFact]
    public async Task The_statistics_charts_render_the_user_s_figures_at_phone_width()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; test.sh does)");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var key = await _host.CreateUserKeyAsync("stats-user");
        using (var client = _host.Client(key))
            for (var i = 0; i < 2; i++)
            {
                var r = await client.PostJsonAsync("/api/emails", new { from = "Shop <shop@example.com>", to = new[] { $"s{i}@example.com" }, subject = "Hi", text = "Hello" });
                var id = (await r.ReadJsonAsync())["id"]!.GetValue<string>();
                await client.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
            }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync" },
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(_host.BaseAddress.ToString());
        await page.FillAsync("#api-key", key);
        await page.ClickAsync("#sign-in-form button");
        await Expect(page.Locator("#stats-summary")).ToContainTextAsync("2 delivered", new() { Timeout = 20_000 });
        foreach (var chart in new[] { "#stats-volume", "#stats-rates", "#stats-latency" })
        {
            var canvas = page.Locator($"{chart} canvas");
            await Expect(canvas).ToHaveCountAsync(1);
            var box = await canvas.BoundingBoxAsync();
            Assert.True(box is { Width: > 100 and <= 390 }, $"{chart}: {box?.Width}");
        }
        // Something was drawn: the volume chart's canvas holds coloured (series) pixels, not only the axes' grey.
        var coloured = await page.EvaluateAsync<int>(@"() => {
            const c = document.querySelector('#stats-volume canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (Math.abs(d[i] - d[i + 1]) > 40 || Math.abs(d[i + 1] - d[i + 2]) > 40)) n++;
            return n; }");
        Assert.True(coloured > 20, $"{coloured} coloured pixels");
        await page.SelectOptionAsync("#stats-range", "hour");
        await Expect(page.Locator("#stats-summary")).ToContainTextAsync("2 accepted");
        var shot = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard-stats.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.Locator("#stats").ScreenshotAsync(new() { Path = shot });
        output.WriteLine($"screenshot: {shot}");
        Assert.True(errors.Count == 0, "browser errors: " + string.Join(" | ", errors));
    }

    private static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AkkaMail.sln"))) return dir.FullName;
        return null;
    }
}

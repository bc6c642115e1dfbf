using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace AkkaMail.Api.Tests;

public sealed class TemplateHostFixture : IAsyncLifetime
{
    public ServiceHost Host { get; private set; } = null!;
    public async Task InitializeAsync() => Host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Stored templates over real HTTP: CRUD and versions, preview, strict mode, syntax errors with their place,
/// emails sent from a template, and hostile templates answered 4xx in bounded time.</summary>
public sealed class TemplateTests(TemplateHostFixture fixture) : IClassFixture<TemplateHostFixture>
{
    private ServiceHost Host => fixture.Host;

    private async Task<HttpClient> NewUserAsync()
    {
        using var admin = Host.AdminClient();
        var created = await (await admin.PostJsonAsync("/api/users", new { name = "templates" })).ReadJsonAsync();
        return Host.Client(created["apiKey"]!.GetValue<string>());
    }

    private static async Task<JsonNode> OkJsonAsync(HttpResponseMessage r, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"{(int)r.StatusCode}: {body}");
        return JsonNode.Parse(body)!;
    }

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage r, HttpStatusCode expected = HttpStatusCode.BadRequest)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"{(int)r.StatusCode}: {body}");
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!.AsObject();
    }

    [Fact]
    public async Task A_template_is_created_read_listed_updated_to_new_versions_and_deleted()
    {
        using var c = await NewUserAsync();
        using var other = await NewUserAsync();
        var created = await c.PostJsonAsync("/api/templates", new { name = "welcome", subject = "Hi {{ name }}", text = "Hello {{ name }}" });
        var v1 = await OkJsonAsync(created, HttpStatusCode.Created);
        Assert.Equal("/api/templates/welcome", created.Headers.Location?.OriginalString);
        Assert.Equal(1, v1["version"]!.GetValue<int>());
        Assert.True(v1["strict"]!.GetValue<bool>());
        await ProblemAsync(await c.PostJsonAsync("/api/templates", new { name = "welcome", subject = "x", text = "y" }), HttpStatusCode.Conflict);

        var v2 = await OkJsonAsync(await c.PutAsJsonAsync("/api/templates/welcome", new { subject = "Welcome {{ name }}", html = "<p>{{ name }}</p>" }));
        Assert.Equal(2, v2["version"]!.GetValue<int>());
        Assert.Equal("Welcome {{ name }}", (await OkJsonAsync(await c.GetAsync("/api/templates/welcome")))["subject"]!.GetValue<string>());
        Assert.Equal("Hi {{ name }}", (await OkJsonAsync(await c.GetAsync("/api/templates/welcome?version=1")))["subject"]!.GetValue<string>());
        await ProblemAsync(await c.GetAsync("/api/templates/welcome?version=3"), HttpStatusCode.NotFound);
        await c.PostJsonAsync("/api/templates", new { name = "another", subject = "s", text = "t" });
        var list = (await OkJsonAsync(await c.GetAsync("/api/templates")))["items"]!.AsArray();
        Assert.Equal(new[] { "another", "welcome" }, list.Select(t => t!["name"]!.GetValue<string>()));
        Assert.Equal(2, list[1]!["version"]!.GetValue<int>());

        // Someone else's template does not exist for them.
        await ProblemAsync(await other.GetAsync("/api/templates/welcome"), HttpStatusCode.NotFound);
        await ProblemAsync(await other.PutAsJsonAsync("/api/templates/welcome", new { subject = "mine", text = "x" }), HttpStatusCode.NotFound);
        await ProblemAsync(await other.DeleteAsync("/api/templates/welcome"), HttpStatusCode.NotFound);
        Assert.Empty((await OkJsonAsync(await other.GetAsync("/api/templates")))["items"]!.AsArray());

        Assert.Equal(HttpStatusCode.NoContent, (await c.DeleteAsync("/api/templates/welcome")).StatusCode);
        await ProblemAsync(await c.GetAsync("/api/templates/welcome"), HttpStatusCode.NotFound);
        await ProblemAsync(await c.DeleteAsync("/api/templates/welcome"), HttpStatusCode.NotFound);
        var again = await OkJsonAsync(await c.PostJsonAsync("/api/templates", new { name = "welcome", subject = "s", text = "t" }), HttpStatusCode.Created);
        Assert.Equal(3, again["version"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_syntax_error_answers_400_with_its_field_line_and_column_and_nothing_is_stored()
    {
        using var c = await NewUserAsync();
        var problem = await ProblemAsync(await c.PostJsonAsync("/api/templates",
            new { name = "broken", subject = "Fine {{ x }}", text = "line one\nline two {% if x %} never closed", html = "<p>{{ x }</p>" }));
        var text = problem["errors"]!["text"]![0]!.GetValue<string>();
        Assert.StartsWith("line 2, column ", text);
        Assert.Contains("endif", text);
        var problems = problem["problems"]!.AsArray();
        var html = problems.Single(p => p!["field"]!.GetValue<string>() == "html")!;
        Assert.Equal(1, html["line"]!.GetValue<int>());
        Assert.True(html["column"]!.GetValue<int>() > 1);
        Assert.Null(problem["errors"]!["subject"]);
        await ProblemAsync(await c.GetAsync("/api/templates/broken"), HttpStatusCode.NotFound);

        // Bad names, missing parts, file tags.
        var bad = await ProblemAsync(await c.PostJsonAsync("/api/templates", new { name = "../etc", subject = "", text = (string?)null }));
        Assert.NotNull(bad["errors"]!["name"]);
        Assert.NotNull(bad["errors"]!["subject"]);
        Assert.NotNull(bad["errors"]!["text"]);
        var include = await ProblemAsync(await c.PostJsonAsync("/api/templates", new { name = "inc", subject = "s", text = "x {% include 'secrets' %}" }));
        Assert.Contains("include", include["errors"]!["text"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task Render_previews_with_variables_escapes_html_and_strict_mode_names_a_missing_variable()
    {
        using var c = await NewUserAsync();
        await OkJsonAsync(await c.PostJsonAsync("/api/templates", new
        {
            name = "order", subject = "Order {{ order.id }} shipped",
            text = "Hi {{ name }},\n{% for item in order.items %}- {{ item.qty }} x {{ item.name }}\n{% endfor %}Total: {{ order.total | times: 2 }}",
            html = "<p>Hi {{ name }}</p>{% if vip %}<b>VIP</b>{% endif %}",
        }), HttpStatusCode.Created);
        var variables = new
        {
            name = "Bob <bob@example.com>", vip = true,
            order = new { id = 42, total = 10.5, items = new object[] { new { name = "tea", qty = 2 }, new { name = "cup", qty = 1 } } },
        };
        var rendered = await OkJsonAsync(await c.PostJsonAsync("/api/templates/order/render", new { variables }));
        Assert.Equal("Order 42 shipped", rendered["subject"]!.GetValue<string>());
        Assert.Equal("Hi Bob <bob@example.com>,\n- 2 x tea\n- 1 x cup\nTotal: 21.0", rendered["text"]!.GetValue<string>());
        Assert.Equal("<p>Hi Bob &lt;bob@example.com&gt;</p><b>VIP</b>", rendered["html"]!.GetValue<string>());
        Assert.Equal(1, rendered["version"]!.GetValue<int>());

        var missing = await ProblemAsync(await c.PostJsonAsync("/api/templates/order/render", new { variables = new { name = "Bob", vip = false } }));
        Assert.NotNull(missing["errors"]!["variables.order"]);
        Assert.Contains("order", missing["errors"]!["variables.order"]![0]!.GetValue<string>());

        // Not strict: a missing variable renders empty.
        await OkJsonAsync(await c.PutAsJsonAsync("/api/templates/order", new { subject = "For {{ name }}", text = "[{{ nothing }}]", strict = false }));
        var lenient = await OkJsonAsync(await c.PostJsonAsync("/api/templates/order/render", new { variables = new { } }));
        Assert.Equal("For ", lenient["subject"]!.GetValue<string>());
        Assert.Equal("[]", lenient["text"]!.GetValue<string>());
        // An older version renders as it was.
        var v1 = await OkJsonAsync(await c.PostJsonAsync("/api/templates/order/render", new { version = 1, variables }));
        Assert.Equal("Order 42 shipped", v1["subject"]!.GetValue<string>());

        await ProblemAsync(await c.PostJsonAsync("/api/templates/order/render", new { variables = new[] { 1, 2 } }));
        await ProblemAsync(await c.PostJsonAsync("/api/templates/none/render", new { variables = new { } }), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_email_sent_from_a_template_shows_its_version_and_keeps_its_content_after_the_template_changes()
    {
        using var c = await NewUserAsync();
        await OkJsonAsync(await c.PostJsonAsync("/api/templates", new { name = "reset", subject = "Reset for {{ user }}", text = "Code {{ code }}" }), HttpStatusCode.Created);
        var accepted = await OkJsonAsync(await c.PostJsonAsync("/api/emails", new
        {
            from = "App <app@example.com>", to = new[] { "dana@example.com" }, template = "reset", variables = new { user = "Dana", code = 1234 },
        }), HttpStatusCode.Accepted);
        Assert.Equal("reset", accepted["template"]!.GetValue<string>());
        Assert.Equal(1, accepted["templateVersion"]!.GetValue<int>());
        var id = accepted["id"]!.GetValue<string>();

        await OkJsonAsync(await c.PutAsJsonAsync("/api/templates/reset", new { subject = "CHANGED {{ user }}", text = "changed" }));
        var email = await c.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        Assert.Equal("Reset for Dana", email["subject"]!.GetValue<string>());
        Assert.Equal("reset", email["template"]!.GetValue<string>());
        Assert.Equal(1, email["templateVersion"]!.GetValue<int>());
        var eml = await File.ReadAllTextAsync(Path.Combine(Host.OutboxPath, $"{id}.eml"));
        Assert.Contains("Reset for Dana", eml);
        Assert.Contains("Code 1234", eml);
        Assert.DoesNotContain("changed", eml);

        // The latest version now, or an older one by number; the variables were the template's, not webhook variables.
        var v2 = await OkJsonAsync(await c.PostJsonAsync("/api/emails", new
        {
            from = "app@example.com", to = new[] { "dana@example.com" }, template = "reset", variables = new { user = "Dana" },
        }), HttpStatusCode.Accepted);
        Assert.Equal(2, v2["templateVersion"]!.GetValue<int>());
        var plain = await OkJsonAsync(await c.PostJsonAsync("/api/emails", Json.ValidEmail("dana@example.com")), HttpStatusCode.Accepted);
        Assert.Null(plain["template"]);
        var plainEmail = await c.WaitForEmailAsync(plain["id"]!.GetValue<string>(), _ => true, TimeSpan.FromSeconds(30));
        Assert.Null(plainEmail["template"]);
        Assert.Null(plainEmail["templateVersion"]);
    }

    [Fact]
    public async Task Sending_with_a_bad_template_reference_or_variables_answers_400_naming_the_field()
    {
        using var c = await NewUserAsync();
        await c.PostJsonAsync("/api/templates", new { name = "t", subject = "S {{ a }}", text = "x" });
        object Email(object extra) => new Dictionary<string, object?>(
            new[] { KeyValuePair.Create<string, object?>("from", "app@example.com"), KeyValuePair.Create<string, object?>("to", new[] { "x@example.com" }) }
                .Concat(extra.GetType().GetProperties().Select(p => KeyValuePair.Create(p.Name, p.GetValue(extra)))));
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { template = "nope" }))))["errors"]!["template"]);
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { template = "t", templateVersion = 9, variables = new { a = 1 } }))))["errors"]!["templateVersion"]);
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { template = "t", subject = "mine", variables = new { a = 1 } }))))["errors"]!["subject"]);
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { template = "t" }))))["errors"]!["variables.a"]);
        // The rendered subject is checked like any subject: one line.
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { template = "t", variables = new { a = "two\nlines" } }))))["errors"]!["subject"]);
        // Without a template, variables stay strings (they go to the provider as webhook variables).
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/emails", Email(new { subject = "s", text = "t", variables = new { n = 1 } }))))["errors"]!["variables.n"]);
    }

    [Theory]
    [InlineData("endless loop", "{% for i in (1..100000000) %}{% for j in (1..100000000) %}x{% endfor %}{% endfor %}")]
    [InlineData("many steps", "{% for i in (1..9999) %}{% for j in (1..9999) %}{% assign k = j %}{% endfor %}{% endfor %}")]
    [InlineData("doubling output", "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s }}")]
    [InlineData("huge output", "{% for i in (1..9999) %}{{ big }}{{ big }}{{ big }}{% endfor %}")]
    public async Task A_hostile_template_answers_400_within_a_bounded_time_and_the_service_stays_up(string what, string text)
    {
        using var c = await NewUserAsync();
        await OkJsonAsync(await c.PostJsonAsync("/api/templates", new { name = "hostile", subject = "s", text }), HttpStatusCode.Created);
        var clock = Stopwatch.StartNew();
        var problem = await ProblemAsync(await c.PostJsonAsync("/api/templates/hostile/render", new { variables = new { big = new string('x', 10_000) } }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{what}: {clock.Elapsed}");
        Assert.Contains("limit", problem["errors"]!["text"]![0]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await c.GetAsync("/api/templates")).StatusCode);
    }

    [Fact]
    public async Task Deep_nesting_and_oversized_templates_are_refused_when_stored()
    {
        using var c = await NewUserAsync();
        var deep = string.Concat(Enumerable.Repeat("{% if a %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000));
        var clock = Stopwatch.StartNew();
        var nested = await ProblemAsync(await c.PostJsonAsync("/api/templates", new { name = "deep", subject = "s", text = deep }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), clock.Elapsed.ToString());
        Assert.Contains("depth", nested["errors"]!["text"]![0]!.GetValue<string>());
        var large = await ProblemAsync(await c.PostJsonAsync("/api/templates", new { name = "large", subject = "s", html = new string('x', 300 * 1024) }));
        Assert.Contains("at most", large["errors"]!["html"]![0]!.GetValue<string>());
        var many = Enumerable.Range(0, 150).ToDictionary(i => $"v{i}", i => (object)i);
        await c.PostJsonAsync("/api/templates", new { name = "ok", subject = "s", text = "t" });
        Assert.NotNull((await ProblemAsync(await c.PostJsonAsync("/api/templates/ok/render", new { variables = many })))["errors"]!["variables"]);
    }
}

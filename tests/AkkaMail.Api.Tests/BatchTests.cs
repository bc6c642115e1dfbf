using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>Personalised batches through Mailgun (the fake, over real HTTP): one call per 1,000 recipients, each
/// recipient's own values and address only, suppressed recipients left out, webhooks mapped back per recipient.</summary>
public sealed class MailgunBatchTests(MailgunFakeHostFixture fixture) : IClassFixture<MailgunFakeHostFixture>
{
    private ServiceHost Host => fixture.Host;
    private MailgunFakeServer Fake => fixture.Fake;

    private static async Task<JsonNode> AcceptedAsync(HttpResponseMessage r)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.Accepted, $"{(int)r.StatusCode}: {body}");
        return JsonNode.Parse(body)!;
    }

    private List<FakeSentMessage> SentFor(IEnumerable<string> emailIds)
    {
        var ids = emailIds.ToHashSet();
        return Fake.Messages.Where(m => m.Variables.TryGetValue("email-id", out var id) && ids.Contains(id)).ToList();
    }

    [Fact]
    public async Task A_batch_of_2500_reaches_mailgun_as_3_calls_each_recipient_seeing_only_its_own_address_and_values()
    {
        using var c = Host.AdminClient();
        var recipients = Enumerable.Range(0, 2500).Select(i => new
        {
            to = $"Person {i} <person{i}@batch.example.com>",
            variables = new Dictionary<string, string> { ["name"] = $"Person-{i}", ["code"] = $"C{i:D4}X" },
        }).ToArray();
        var batch = await AcceptedAsync(await c.PostJsonAsync("/api/emails/batch", new
        {
            from = "App <app@example.com>", subject = "Hi %recipient.name%", text = "Your code is %recipient.code%.",
            html = "<p>Code <b>%recipient.code%</b></p>", recipients,
        }));
        var emails = batch["emails"]!.AsArray().Select(e => e!).ToArray();
        Assert.Equal(new[] { 1000, 1000, 500 }, emails.Select(e => e["recipients"]!.GetValue<int>()));
        Assert.Equal(2500, batch["recipients"]!.GetValue<int>());
        var ids = emails.Select(e => e["id"]!.GetValue<string>()).ToArray();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (SentFor(ids).Count < 3 && DateTime.UtcNow < deadline) await Task.Delay(100);
        var calls = SentFor(ids);
        Assert.Equal(3, calls.Count);
        var seen = new HashSet<string>();
        foreach (var call in calls)
        {
            Assert.NotNull(call.RecipientVariables);
            Assert.Equal(call.To.Count, call.RecipientVariables!.Count);
            var addresses = call.Recipients.ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var address in call.Recipients)
            {
                var i = int.Parse(address["person".Length..address.IndexOf('@')]);
                Assert.True(seen.Add(address), $"{address} got two messages");
                // Its own values, and only its own.
                Assert.Equal(new Dictionary<string, string> { ["name"] = $"Person-{i}", ["code"] = $"C{i:D4}X" },
                    call.RecipientVariables[address.ToLowerInvariant()]);
                var own = call.ForRecipient(address);
                Assert.Equal($"Hi Person-{i}", own.Subject);
                Assert.Equal($"Your code is C{i:D4}X.", own.Text);
                Assert.Equal($"<p>Code <b>C{i:D4}X</b></p>", own.Html);
                var shown = string.Join("\n", own.To) + own.Subject + own.Text + own.Html;
                Assert.Single(own.To);
                // No other recipient's address, and no other recipient's code, in what this recipient receives.
                Assert.DoesNotContain("@batch.example.com", shown.Replace($"person{i}@batch.example.com", ""));
                Assert.All(System.Text.RegularExpressions.Regex.Matches(shown, @"C\d{4}X"), m => Assert.Equal($"C{i:D4}X", m.Value));
            }
        }
        Assert.Equal(2500, seen.Count);

        // Per-recipient fate: the fake's webhooks map back to each recipient of each email.
        var first = await c.WaitForEmailAsync(ids[2], e => e["recipients"]!.AsArray().All(r => r!["status"]!.GetValue<string>() == "delivered"),
            TimeSpan.FromSeconds(90));
        Assert.Equal(500, first["recipients"]!.AsArray().Count);
        Assert.Equal("delivered", first["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_template_batch_renders_once_escapes_values_in_html_and_leaves_suppressed_recipients_out()
    {
        using var c = Host.AdminClient();
        // A recipient who bounced for good is on the sender's suppression list.
        var earlier = await AcceptedAsync(await c.PostJsonAsync("/api/emails", Json.ValidEmail("bounced@batch.example.com")));
        var earlierId = earlier["id"]!.GetValue<string>();
        var sent = await c.WaitForEmailAsync(earlierId, e => e["providerMessageId"] is JsonValue, TimeSpan.FromSeconds(30));
        await Fake.PostWebhookAsync(sent["providerMessageId"]!.GetValue<string>().Trim('<', '>'), "bounced@batch.example.com", FakeWebhookEvent.PermanentFailure);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await c.GetAsync("/api/suppressions/bounced@batch.example.com")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(100);

        Assert.Equal(HttpStatusCode.Created, (await c.PostJsonAsync("/api/templates", new
        {
            name = "batch-news", subject = "{{ issue }} for {{ recipient.name }}",
            text = "Dear {{ recipient.name }}, issue {{ issue }}.", html = "<p>Dear {{ recipient.name }}</p>",
        })).StatusCode);
        var batch = await AcceptedAsync(await c.PostJsonAsync("/api/emails/batch", new
        {
            from = "news@example.com", template = "batch-news", variables = new { issue = "No. 7" },
            recipients = new object[]
            {
                new { to = "ann@batch.example.com", variables = new { name = "Ann <3" } },
                new { to = "bounced@batch.example.com", variables = new { name = "Gone" } },
                new { to = "cy@batch.example.com", variables = new { name = "Cy & Co" } },
            },
        }));
        Assert.Equal("batch-news", batch["template"]!.GetValue<string>());
        Assert.Equal(1, batch["templateVersion"]!.GetValue<int>());
        var id = batch["emails"]![0]!["id"]!.GetValue<string>();
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (SentFor([id]).Count < 1 && DateTime.UtcNow < deadline) await Task.Delay(100);
        var call = Assert.Single(SentFor([id]));
        Assert.Equal(new[] { "ann@batch.example.com", "cy@batch.example.com" }, call.Recipients);
        Assert.False(call.RecipientVariables!.ContainsKey("bounced@batch.example.com"));
        var ann = call.ForRecipient("ann@batch.example.com");
        Assert.Equal("No. 7 for Ann <3", ann.Subject);
        Assert.Equal("Dear Ann <3, issue No. 7.", ann.Text);
        Assert.Equal("<p>Dear Ann &lt;3</p>", ann.Html);
        Assert.Equal("<p>Dear Cy &amp; Co</p>", call.ForRecipient("cy@batch.example.com").Html);

        var email = await c.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() != "queued", TimeSpan.FromSeconds(30));
        Assert.Equal("suppressed", email["recipients"]!.AsArray().Single(r => r!["address"]!.GetValue<string>() == "bounced@batch.example.com")!["status"]!.GetValue<string>());
        Assert.Equal("batch-news", email["template"]!.GetValue<string>());
    }

    [Fact]
    public async Task Bad_batches_answer_400_naming_the_field()
    {
        using var c = Host.AdminClient();
        async Task<JsonObject> Invalid(object body)
        {
            var r = await c.PostJsonAsync("/api/emails/batch", body);
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{(int)r.StatusCode}: {text}");
            return JsonNode.Parse(text)!["errors"]!.AsObject();
        }
        Assert.NotNull((await Invalid(new { from = "a@example.com", subject = "s", text = "t" }))["recipients"]);
        Assert.NotNull((await Invalid(new { from = "a@example.com", subject = "s", text = "t",
            recipients = Enumerable.Range(0, BatchLimit + 1).Select(i => new { to = $"p{i}@example.com" }) }))["recipients"]);
        var errors = await Invalid(new { from = "a@example.com", subject = "s", text = "t", recipients = new object[]
        {
            new { to = "not an address" }, new { to = "x@example.com" }, new { to = "X@example.com" },
            new { to = "y@example.com", variables = new { n = 1 } },
        } });
        Assert.NotNull(errors["recipients[0].to"]);
        Assert.NotNull(errors["recipients[2].to"]);
        Assert.NotNull(errors["recipients[3].variables.n"]);
        Assert.NotNull((await Invalid(new { from = "a@example.com", recipients = new[] { new { to = "z@example.com" } } }))["subject"]);
        Assert.NotNull((await Invalid(new { from = "a@example.com", template = "no-such", recipients = new[] { new { to = "z@example.com" } } }))["template"]);
    }

    private const int BatchLimit = Emails.BatchEndpoints.MaxRecipients;
}

/// <summary>Mailgun's per-message limits, checked before anything is accepted.</summary>
public sealed class ProviderLimitTests(TemplateHostFixture fixture) : IClassFixture<TemplateHostFixture>
{
    [Fact]
    public async Task A_batch_part_over_25_MB_is_refused_whole_before_any_part_is_accepted()
    {
        using var c = fixture.Host.AdminClient();
        var before = (await (await c.GetAsync("/api/emails?limit=200")).ReadJsonAsync())["items"]!.AsArray().Count;
        // 1,001 recipients (two parts); five values of 1,000 '&' each, used in html: escaped, five times as long.
        var amp = new string('&', 1000);
        // '&' unescaped in the JSON (5 MB of body), escaped to '&amp;' in html.
        var relaxed = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)
            { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var r = await c.PostAsync("/api/emails/batch", new StringContent(System.Text.Json.JsonSerializer.Serialize(new
        {
            from = "app@example.com", subject = "s", text = "t",
            html = "<p>%recipient._html_a%%recipient._html_b%%recipient._html_c%%recipient._html_d%%recipient._html_e%</p>",
            recipients = Enumerable.Range(0, 1001).Select(i => new
                { to = $"r{i}@example.com", variables = new { a = amp, b = amp, c = amp, d = amp, e = amp } }),
        }, relaxed), System.Text.Encoding.UTF8, "application/json"));
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{(int)r.StatusCode}: {body[..Math.Min(300, body.Length)]}");
        Assert.Contains("25 MB", JsonNode.Parse(body)!["errors"]!["recipients"]![0]!.GetValue<string>());
        Assert.Equal(before, (await (await c.GetAsync("/api/emails?limit=200")).ReadJsonAsync())["items"]!.AsArray().Count);
    }

    [Fact]
    public async Task Headers_variables_and_tags_over_mailgun_s_16_KB_options_budget_answer_400()
    {
        using var c = fixture.Host.AdminClient();
        var headers = Enumerable.Range(0, 20).ToDictionary(i => $"X-Big-{i}", _ => new string('h', 900));
        var r = await c.PostJsonAsync("/api/emails", new { from = "a@example.com", to = new[] { "b@example.com" }, subject = "s", text = "t", headers });
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Contains("16 KB", JsonNode.Parse(body)!["errors"]!["headers"]![0]!.GetValue<string>());
        var fewer = headers.Take(10).ToDictionary();
        Assert.Equal(HttpStatusCode.Accepted, (await c.PostJsonAsync("/api/emails",
            new { from = "a@example.com", to = new[] { "b@example.com" }, subject = "s", text = "t", headers = fewer })).StatusCode);
    }
}

/// <summary>The sandbox writes a batch as Mailgun sends it: one .eml per recipient, each with its own address and values.</summary>
public sealed class SandboxBatchTests(TemplateHostFixture fixture) : IClassFixture<TemplateHostFixture>
{
    [Fact]
    public async Task Each_recipient_of_a_batch_gets_its_own_eml_with_only_its_address_and_values()
    {
        using var c = fixture.Host.AdminClient();
        var r = await c.PostJsonAsync("/api/emails/batch", new
        {
            from = "app@example.com", subject = "For %recipient.name%", text = "Hello %recipient.name%",
            recipients = new[] { "a", "b", "c" }.Select(n => new { to = $"{n}@sandbox.example.com", variables = new { name = n.ToUpperInvariant() } }),
        });
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        var id = (await r.ReadJsonAsync())["emails"]![0]!["id"]!.GetValue<string>();
        var email = await c.WaitForEmailAsync(id, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        Assert.Equal(3, email["recipients"]!.AsArray().Count);
        foreach (var n in new[] { "a", "b", "c" })
        {
            var eml = await File.ReadAllTextAsync(Path.Combine(fixture.Host.OutboxPath, $"{id}.{n}@sandbox.example.com.eml"));
            Assert.Contains($"To: {n}@sandbox.example.com", eml);
            Assert.Contains($"Subject: For {n.ToUpperInvariant()}", eml);
            Assert.Contains($"Hello {n.ToUpperInvariant()}", eml);
            foreach (var other in new[] { "a", "b", "c" }.Where(o => o != n))
                Assert.DoesNotContain($"{other}@sandbox.example.com", eml);
        }
        Assert.False(File.Exists(Path.Combine(fixture.Host.OutboxPath, $"{id}.eml")));
    }

    [Fact]
    public async Task A_batch_retried_with_its_idempotency_key_reaches_the_same_emails_and_a_changed_one_is_refused()
    {
        using var c = fixture.Host.AdminClient();
        object Batch(string lastName) => new
        {
            from = "app@example.com", subject = "Hi %recipient.name%", text = "t",
            recipients = Enumerable.Range(0, 1500).Select(i => new { to = $"idem{i}@example.com", variables = new { name = i == 1499 ? lastName : $"P{i}" } }),
        };
        async Task<HttpResponseMessage> Post(object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/emails/batch") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", "batch-idem-1");
            return await c.SendAsync(request);
        }
        var first = await (await Post(Batch("Last"))).ReadJsonAsync();
        var again = await Post(Batch("Last"));
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var ids = first["emails"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()).ToArray();
        Assert.Equal(2, ids.Length);
        Assert.Equal(ids, (await again.ReadJsonAsync())["emails"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
        // The same key with other values in the second part: that part's email exists with other content.
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await Post(Batch("Changed"))).StatusCode);
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using AkkaMail.MailgunFake;
using Xunit;
using Xunit.Abstractions;
using AkkaMail.Api.Webhooks;

namespace AkkaMail.Api.Tests;

/// <summary>
/// The OpenAPI document against the service's real answers over HTTP: every operation is driven through its answers
/// (success, validation, no key, someone else's id, conflict, too large, rate limit), and every answer observed must be
/// declared by its operation in the document, with its content type and a schema its body satisfies. An endpoint that
/// answers a status, a content type or a field its operation does not declare fails this test.
/// </summary>
public sealed class OpenApiConformanceTests(OpenApiConformanceTests.HostFixture fixture, ITestOutputHelper output)
    : IClassFixture<OpenApiConformanceTests.HostFixture>
{
    public sealed class HostFixture : IAsyncLifetime
    {
        public const string SigningKey = "sk-openapi-conformance";
        /// <summary>Each user's bucket, refilled by one a second: enough for one user's sends below, and a burst of three
        /// times as many is refused however slow the machine.</summary>
        public const int Burst = 8;

        public ServiceHost Host { get; private set; } = null!;

        public async Task InitializeAsync() => Host = await ServiceHost.StartAsync(extraArgs:
        [
            $"--Mailgun:WebhookSigningKey={SigningKey}", "--AkkaMail:RateLimit:PerSecond=1", $"--AkkaMail:RateLimit:Burst={Burst}",
        ]);

        public async Task DisposeAsync() => await Host.DisposeAsync();
    }

    private sealed record Answer(string Method, string Path, int Status, string? MediaType, string Body);

    /// <summary>Records every answer the service gives to a client built on it.</summary>
    private sealed class Recorder(ConcurrentQueue<Answer> answers) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            var media = response.Content.Headers.ContentType?.MediaType;
            var body = "";
            if (media != "text/event-stream") // an endless body: its status and content type are what is checked
            {
                await response.Content.LoadIntoBufferAsync(ct);
                body = await response.Content.ReadAsStringAsync(ct);
            }
            answers.Enqueue(new Answer(request.Method.Method, request.RequestUri!.AbsolutePath, (int)response.StatusCode, media, body));
            return response;
        }
    }

    private readonly ConcurrentQueue<Answer> _answers = new();
    private ServiceHost Host => fixture.Host;

    private HttpClient Client(string? apiKey)
    {
        var c = new HttpClient(new Recorder(_answers)) { BaseAddress = Host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return c;
    }

    private static StringContent Body(string text, string mediaType = "application/json") => new(text, Encoding.UTF8, mediaType);

    private static async Task<JsonObject> DocumentAsync(ServiceHost host)
    {
        using var admin = host.AdminClient();
        return (await (await admin.GetAsync("/openapi/v1.json")).ReadJsonAsync()).AsObject();
    }

    private async Task<(string Id, string KeyId, HttpClient Client)> NewUserAsync(HttpClient admin)
    {
        var created = await (await admin.PostJsonAsync("/api/users", new { name = "conformance" })).ReadJsonAsync();
        return (created["id"]!.GetValue<string>(), created["keyId"]!.GetValue<string>(), Client(created["apiKey"]!.GetValue<string>()));
    }

    private static async Task<string> AcceptedIdAsync(HttpResponseMessage r)
    {
        Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        return (await r.ReadJsonAsync())["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task Every_answer_observed_over_http_is_declared_in_the_openapi_document_with_its_schema()
    {
        var document = await DocumentAsync(Host);
        var paths = document["paths"]!.AsObject();
        using var admin = Client(Host.AdminKey);
        var (aliceId, aliceKeyId, alice) = await NewUserAsync(admin);
        var (_, _, bob) = await NewUserAsync(admin);
        using var _a = alice;
        using var _b = bob;

        // Emails: accepted, invalid, malformed, not JSON, idempotency conflict, too large; the alias path too.
        var delivered = await AcceptedIdAsync(await alice.PostJsonAsync("/api/emails", Json.ValidEmail("gone@example.com")));
        var scheduled = await AcceptedIdAsync(await alice.PostJsonAsync("/api/emails/send", new
            { from = "a@example.com", to = new[] { "later@example.com" }, subject = "s", text = "t", sendAt = DateTimeOffset.UtcNow.AddHours(1) }));
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostJsonAsync("/api/emails", new { subject = "no recipients" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostAsync("/api/emails", Body("{\"to\":"))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await alice.PostAsync("/api/emails", Body("hello", "text/plain"))).StatusCode);
        using (var first = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = Body(System.Text.Json.JsonSerializer.Serialize(Json.ValidEmail("x@example.com"))) })
        using (var second = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = Body(System.Text.Json.JsonSerializer.Serialize(Json.ValidEmail("y@example.com"))) })
        {
            first.Headers.Add("Idempotency-Key", "conformance-1");
            second.Headers.Add("Idempotency-Key", "conformance-1");
            Assert.Equal(HttpStatusCode.Accepted, (await bob.SendAsync(first)).StatusCode);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, (await bob.SendAsync(second)).StatusCode);
        }
        var huge = "{\"subject\":\"" + new string('x', (int)Emails.EmailEndpoints.MaxBodyBytes) + "\"}";
        // Expect: 100-continue, so the service refuses before the body is sent rather than closing the socket under the client.
        using (var tooLarge = new HttpRequestMessage(HttpMethod.Post, "/api/emails") { Content = Body(huge) })
        {
            tooLarge.Headers.ExpectContinue = true;
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await bob.SendAsync(tooLarge)).StatusCode);
        }

        // Over the rate limit: a burst from a user of its own, with bodies refused before any email exists.
        var (_, _, eager) = await NewUserAsync(admin);
        using (eager)
        {
            var burst = await Task.WhenAll(Enumerable.Range(0, 3 * HostFixture.Burst)
                .Select(_ => eager.PostAsync("/api/emails", Body("{}")))); // 400 when let through: no email is created
            Assert.Contains(burst, r => r.StatusCode == HttpStatusCode.TooManyRequests);
        }

        // Reading emails: list, one, its events; bad queries; someone else's email is 404.
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/api/emails?limit=1")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync("/api/emails?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync("/api/emails?limit=many")).StatusCode);
        var email = await alice.WaitForEmailAsync(delivered, e => e["status"]!.GetValue<string>() == "delivered", TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/emails/{delivered}/events")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/{delivered}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/{delivered}/events")).StatusCode);
        // Search and the message's content (the dashboard's preview).
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/emails?q={delivered}&status=delivered")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync("/api/emails?q=" + Uri.EscapeDataString("@ # !"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/emails/{delivered}/content")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/{delivered}/content")).StatusCode);

        // Cancel: in time, too late, someone else's.
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync($"/api/emails/{scheduled}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await alice.PostAsync($"/api/emails/{delivered}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/emails/{scheduled}/cancel", null)).StatusCode);

        // The SSE stream: opened (headers only), and for an email of someone else's.
        using (var stream = await alice.GetAsync("/api/emails/stream", HttpCompletionOption.ResponseHeadersRead))
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/emails/stream?id={delivered}")).StatusCode);

        // The webhook: a complaint for the delivered email (which suppresses its recipient), unsigned, malformed, too large.
        using var anonymous = Client(apiKey: null);
        var message = MailgunWebhooks.Message(email["providerMessageId"]!.GetValue<string>(), "gone@example.com", delivered);
        var (complaint, _) = FakeMailgunEvents.BuildWebhook(message, "gone@example.com", FakeWebhookEvent.Complained, HostFixture.SigningKey, DateTimeOffset.UtcNow);
        var applied = await anonymous.PostWebhookAsync(complaint);
        Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        Assert.Equal("applied", (await applied.ReadJsonAsync())["status"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostWebhookAsync(MailgunWebhooks.Resign(complaint, "not-the-key"))).StatusCode);
        var malformed = JsonNode.Parse(MailgunWebhooks.Resign(complaint, HostFixture.SigningKey))!.AsObject();
        malformed["event-data"] = "not an object";
        Assert.Equal(HttpStatusCode.NotAcceptable, (await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(malformed.ToJsonString()))).StatusCode);
        var padded = JsonNode.Parse(MailgunWebhooks.Resign(complaint, HostFixture.SigningKey))!.AsObject();
        padded["padding"] = new string('x', MailgunWebhookEndpoints.MaxBodyBytes);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await anonymous.PostWebhookAsync(Encoding.UTF8.GetBytes(padded.ToJsonString()))).StatusCode);

        // Suppressions: the one the complaint added (once the read side has it), a bad query, lifted, gone.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await alice.GetAsync("/api/suppressions/gone@example.com")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/api/suppressions?limit=10")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync("/api/suppressions?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync("/api/suppressions/gone@example.com")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.DeleteAsync("/api/suppressions/gone@example.com")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/api/suppressions/gone@example.com")).StatusCode);

        // Statistics: a user's own, a bad bucket, someone else's (404), every user's by the admin.
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/api/stats?bucket=hour")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync("/api/stats?bucket=week")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/stats?userId={aliceId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/stats?userId=*&bucket=day&tag=receipt")).StatusCode);

        // Erasure: requested (202), invalid, malformed, not JSON, someone else's (403); read by its owner, not by another (404).
        var erasure = await alice.PostJsonAsync("/api/erasure", new { address = "erased@example.com" });
        Assert.Equal(HttpStatusCode.Accepted, erasure.StatusCode);
        var erasureId = (await erasure.ReadJsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostJsonAsync("/api/erasure", new { address = "nope" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostAsync("/api/erasure", Body("{\"address\":"))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await alice.PostAsync("/api/erasure", Body("address", "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.PostJsonAsync("/api/erasure", new { address = "erased@example.com", userId = aliceId })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"/api/erasure/{erasureId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/erasure/{erasureId}")).StatusCode);
        // Storage figures: the admin's, a bad limit, a user refused.
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/admin/storage?limit=5")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/api/admin/storage?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.GetAsync("/api/admin/storage")).StatusCode);

        // Users and keys: created by the admin only, invalid, not JSON; me; keys issued and revoked by their owner only.
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostJsonAsync("/api/users", new { name = "not allowed" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostJsonAsync("/api/users", new { name = "" })).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await admin.PostAsync("/api/users", Body("name=x", "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/api/users/me")).StatusCode);
        // Users listed by the admin only (a page with a next cursor, the page after it), a bad limit.
        var firstUsers = await admin.GetAsync("/api/users?limit=1");
        Assert.Equal(HttpStatusCode.OK, firstUsers.StatusCode);
        var usersCursor = (await firstUsers.ReadJsonAsync())["nextCursor"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/users?limit=200&after={Uri.EscapeDataString(usersCursor)}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/api/users?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.GetAsync("/api/users")).StatusCode);
        var issued = await alice.PostAsync($"/api/users/{aliceId}/keys", null);
        Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        var keyId = (await issued.ReadJsonAsync())["keyId"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/users/{aliceId}/keys", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/api/users/{aliceId}/keys/{keyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"/api/users/{aliceId}/keys/{keyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.DeleteAsync($"/api/users/{aliceId}/keys/{keyId}")).StatusCode);

        // Templates (a user of its own, for the render's rate limit): created, invalid, taken, not JSON; listed, read
        // (a version), someone else's; updated, invalid; rendered, a missing variable; an email sent from it; deleted, gone.
        var (_, _, carol) = await NewUserAsync(admin);
        using (carol)
        {
            var template = new { name = "conformance", subject = "Hi {{ name }}", text = "Hello {{ name }}" };
            Assert.Equal(HttpStatusCode.Created, (await carol.PostJsonAsync("/api/templates", template)).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await carol.PostJsonAsync("/api/templates", new { name = "broken", subject = "s", text = "{% if %}" })).StatusCode);
            Assert.Equal(HttpStatusCode.Conflict, (await carol.PostJsonAsync("/api/templates", template)).StatusCode);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await carol.PostAsync("/api/templates", Body("name=x", "text/plain"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync("/api/templates")).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await carol.GetAsync("/api/templates?limit=0")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync("/api/templates/conformance?version=1")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/api/templates/conformance")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await carol.PutAsync("/api/templates/conformance",
                Body(System.Text.Json.JsonSerializer.Serialize(new { subject = "Hello {{ name }}", html = "<p>{{ name }}</p>" })))).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await carol.PutAsync("/api/templates/conformance", Body("{\"subject\":\"{{ x\",\"text\":\"t\"}"))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await bob.PutAsync("/api/templates/conformance", Body("{\"subject\":\"s\",\"text\":\"t\"}"))).StatusCode);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await carol.PutAsync("/api/templates/conformance", Body("x", "text/plain"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await carol.PostJsonAsync("/api/templates/conformance/render", new { variables = new { name = "Ann" } })).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await carol.PostJsonAsync("/api/templates/conformance/render", new { variables = new { } })).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await bob.PostJsonAsync("/api/templates/conformance/render", new { variables = new { } })).StatusCode);
            var fromTemplate = await AcceptedIdAsync(await carol.PostJsonAsync("/api/emails", new
                { from = "a@example.com", to = new[] { "t@example.com" }, template = "conformance", variables = new { name = "Ann" } }));
            Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync($"/api/emails/{fromTemplate}")).StatusCode);
            // A personalised batch from the template: accepted, and invalid.
            Assert.Equal(HttpStatusCode.Accepted, (await carol.PostJsonAsync("/api/emails/batch", new
            {
                from = "a@example.com", template = "conformance", variables = new { name = "All" },
                recipients = new[] { new { to = "b1@example.com", variables = new { x = "1" } }, new { to = "b2@example.com", variables = new { x = "2" } } },
            })).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await carol.PostJsonAsync("/api/emails/batch", new { from = "a@example.com", template = "conformance" })).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await carol.DeleteAsync("/api/templates/conformance")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await carol.DeleteAsync("/api/templates/conformance")).StatusCode);
        }
        // Outbound webhook endpoints: created (at a public address: this host keeps the address guard strict), refused
        // (a private address), invalid, not JSON; read, listed, changed; someone else's is 404; the secret rotated; a ping,
        // its log, its redelivery; a range redelivered; deleted.
        const string hooks = "/api/webhooks/endpoints";
        var createdHook = await alice.PostJsonAsync(hooks, new { url = "https://93.184.216.34/hook", eventTypes = new[] { "delivered" } });
        Assert.Equal(HttpStatusCode.Created, createdHook.StatusCode);
        var hookId = (await createdHook.ReadJsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostJsonAsync(hooks, new { url = "https://10.0.0.1/hook" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostJsonAsync(hooks, new { url = "https://93.184.216.34/", eventTypes = new[] { "nope" } })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostAsync(hooks, Body("{\"url\":"))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await alice.PostAsync(hooks, Body("url", "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(hooks)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"{hooks}/{hookId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"{hooks}/{hookId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.PutAsync($"{hooks}/{hookId}", Body("{\"tags\":[\"receipt\"]}"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PutAsync($"{hooks}/{hookId}", Body("{\"url\":\"https://127.0.0.1/\"}"))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await alice.PutAsync($"{hooks}/{hookId}", Body("x", "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PutAsync($"{hooks}/{hookId}", Body("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync($"{hooks}/{hookId}/secret/rotate", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"{hooks}/{hookId}/secret/rotate", null)).StatusCode);
        var ping = await alice.PostAsync($"{hooks}/{hookId}/ping", null);
        Assert.Equal(HttpStatusCode.Accepted, ping.StatusCode);
        var pingId = (await ping.ReadJsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"{hooks}/{hookId}/ping", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync($"{hooks}/{hookId}/deliveries?limit=10")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.GetAsync($"{hooks}/{hookId}/deliveries?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"{hooks}/{hookId}/deliveries")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await alice.PostAsync($"{hooks}/{hookId}/deliveries/{pingId}/redeliver", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.PostAsync($"{hooks}/{hookId}/deliveries/nope/redeliver", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await alice.PostJsonAsync($"{hooks}/{hookId}/redeliver",
            new { from = DateTimeOffset.UtcNow.AddHours(-1), to = DateTimeOffset.UtcNow.AddHours(1) })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostJsonAsync($"{hooks}/{hookId}/redeliver", new { from = DateTimeOffset.UtcNow })).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await alice.PostAsync($"{hooks}/{hookId}/redeliver", Body("x", "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.PutAsync($"{hooks}/{hookId}", Body("{\"enabled\":false}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await alice.PostAsync($"{hooks}/{hookId}/ping", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"{hooks}/{hookId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"{hooks}/{hookId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.DeleteAsync($"{hooks}/{hookId}")).StatusCode);

        // No key, or a revoked one: every operation behind a key (all but the webhook).
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/users/{aliceId}/keys/{aliceKeyId}")).StatusCode);
        foreach (var (template, method, _) in Operations(paths).Where(o => o.Template != MailgunWebhooks.Path))
        {
            var path = System.Text.RegularExpressions.Regex.Replace(template, "{[^}]+}", "x");
            Assert.Equal(HttpStatusCode.Unauthorized,
                (await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), path))).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await alice.GetAsync("/api/emails")).StatusCode);

        // The check: each answer declared by its operation, with its content type and a schema the body satisfies.
        var failures = new List<string>();
        var answered = new HashSet<(string, string)>();
        foreach (var a in _answers)
        {
            var (template, operation) = Find(paths, a.Method, a.Path);
            var what = $"{a.Method} {template ?? a.Path} → {a.Status} {a.MediaType}";
            if (operation is null) { failures.Add($"{what}: no operation in the document"); continue; }
            if (a.Status is >= 200 and < 300) answered.Add((a.Method.ToLowerInvariant(), template!));
            if (operation["responses"]?[a.Status.ToString()] is not JsonObject declared) { failures.Add($"{what}: status not declared"); continue; }
            if (a.MediaType is null && a.Body.Length == 0) continue;
            if (declared["content"]?[a.MediaType ?? ""] is not JsonObject content) { failures.Add($"{what}: content type not declared"); continue; }
            if (content["schema"] is not JsonObject schema) { failures.Add($"{what}: no schema"); continue; }
            if (a.Body.Length == 0) continue;
            var errors = new List<string>();
            // Problem details may carry extension members (RFC 9457 §3.2, e.g. traceId); our own bodies may not carry undeclared fields.
            SchemaCheck.Validate(JsonNode.Parse(a.Body), schema, document, "$", strict: a.MediaType == "application/json", errors);
            failures.AddRange(errors.Distinct().Select(e => $"{what}: {e}"));
        }
        var unanswered = Operations(paths).Where(o => !answered.Contains((o.Method, o.Template))).Select(o => $"{o.Method} {o.Template}").ToList();
        output.WriteLine($"{_answers.Count} answers to {Operations(paths).Count()} operations checked:");
        foreach (var a in _answers.Select(a => $"{a.Method} {Find(paths, a.Method, a.Path).Template ?? a.Path} → {a.Status} {a.MediaType}").Distinct().Order())
            output.WriteLine("  " + a);
        // Declared but not provoked here (e.g. 503 when an actor does not answer in time): listed, not failed.
        var observed = _answers.Select(a => (a.Method.ToLowerInvariant(), Find(paths, a.Method, a.Path).Template, a.Status.ToString())).ToHashSet();
        foreach (var (template, method, operation) in Operations(paths))
            foreach (var (status, _) in operation["responses"]!.AsObject().Where(r => !observed.Contains((method, template, r.Key))))
                output.WriteLine($"  declared, not observed: {method.ToUpperInvariant()} {template} → {status}");
        foreach (var f in failures.Distinct()) output.WriteLine(f);
        Assert.Empty(failures.Distinct());
        // The test drives every operation to a success: an operation added later without a probe here fails it.
        Assert.Empty(unanswered);
        // Every operation that answered 401 to no key declares the key it needs; the webhook (signed, no key) declares none.
        foreach (var (template, method, operation) in Operations(paths))
            Assert.True((operation["security"] as JsonArray ?? []).Count > 0 == (template != MailgunWebhooks.Path), $"{method} {template}: security");
        Assert.NotNull(document["components"]?["securitySchemes"]?[ApiRegistration.BearerScheme]);
    }

    [Fact]
    public async Task The_check_catches_an_undeclared_status_and_an_undeclared_field()
    {
        var document = await DocumentAsync(Host);
        var paths = document["paths"]!.AsObject();
        var (_, operation) = Find(paths, "GET", "/api/emails/0123");
        Assert.NotNull(operation);
        Assert.Null(operation!["responses"]!["409"]);
        var schema = operation["responses"]!["200"]!["content"]!["application/json"]!["schema"]!.AsObject();
        var errors = new List<string>();
        SchemaCheck.Validate(JsonNode.Parse("{\"id\":\"x\",\"phase\":\"Sending\"}"), schema, document, "$", strict: true, errors);
        Assert.Contains(errors, e => e.Contains("phase") && e.Contains("not declared"));
        Assert.Contains(errors, e => e.Contains("status") && e.Contains("required"));
    }

    [Fact]
    public async Task An_email_shows_no_internal_field_of_the_read_model()
    {
        using var client = Host.AdminClient();
        var r = await client.PostJsonAsync("/api/emails", Json.ValidEmail());
        var id = (await r.ReadJsonAsync())["id"]!.GetValue<string>();
        var email = (await client.WaitForEmailAsync(id, _ => true, TimeSpan.FromSeconds(30))).AsObject();
        Assert.False(email.ContainsKey("phase"));
        Assert.False(email.ContainsKey("userId"));
        var listed = (await (await client.GetAsync("/api/emails?limit=1")).ReadJsonAsync())["items"]![0]!.AsObject();
        Assert.False(listed.ContainsKey("phase"));
        Assert.False(listed.ContainsKey("userId"));
        foreach (var field in new[] { "id", "status", "createdAt", "updatedAt", "from", "to", "cc", "bcc", "subject", "tags",
                     "providerMessageId", "attempt", "sendAt", "nextAttemptAt", "failureReason", "recipients", "timeline", "version" })
            Assert.True(email.ContainsKey(field), $"'{field}' is missing");
    }

    private static IEnumerable<(string Template, string Method, JsonObject Operation)> Operations(JsonObject paths) =>
        paths.SelectMany(p => p.Value!.AsObject()
            .Where(o => o.Key is "get" or "post" or "put" or "patch" or "delete")
            .Select(o => (p.Key, o.Key, o.Value!.AsObject())));

    /// <summary>The document's operation for a request: its path template with the most literal segments that matches.</summary>
    private static (string? Template, JsonObject? Operation) Find(JsonObject paths, string method, string path)
    {
        var segments = path.Trim('/').Split('/');
        var best = Operations(paths)
            .Where(o => o.Method == method.ToLowerInvariant())
            .Select(o => (o.Template, o.Operation, Parts: o.Template.Trim('/').Split('/')))
            .Where(o => o.Parts.Length == segments.Length &&
                        o.Parts.Zip(segments).All(s => s.First.StartsWith('{') || string.Equals(s.First, s.Second, StringComparison.OrdinalIgnoreCase)))
            .OrderByDescending(o => o.Parts.Count(s => !s.StartsWith('{')))
            .FirstOrDefault();
        return (best.Template, best.Operation);
    }
}

/// <summary>
/// A JSON Schema check of the parts the OpenAPI document uses: <c>$ref</c>, <c>type</c> (one or several), <c>required</c>,
/// <c>properties</c>, <c>additionalProperties</c>, <c>items</c>, <c>anyOf</c>/<c>oneOf</c>. When <c>strict</c>, an object may
/// carry no property its schema does not declare (unless the schema allows additional properties).
/// </summary>
public static class SchemaCheck
{
    public static void Validate(JsonNode? value, JsonObject schema, JsonObject document, string at, bool strict, List<string> errors)
    {
        schema = Resolve(schema, document);
        var alternatives = (schema["anyOf"] ?? schema["oneOf"]) as JsonArray;
        if (alternatives is not null)
        {
            var fits = alternatives.Any(s =>
            {
                var e = new List<string>();
                Validate(value, s!.AsObject(), document, at, strict, e);
                return e.Count == 0;
            });
            if (!fits) errors.Add($"{at}: fits none of the schema's alternatives");
            return;
        }

        var types = schema["type"] switch
        {
            JsonArray a => a.Select(t => t!.GetValue<string>()).ToHashSet(),
            JsonValue v => new HashSet<string> { v.GetValue<string>() },
            _ => new HashSet<string>(),
        };
        var kind = KindOf(value);
        if (types.Count > 0 && !types.Contains(kind) && !(kind == "integer" && types.Contains("number")))
        {
            errors.Add($"{at}: is {kind}, the schema says {string.Join(" or ", types)}");
            return;
        }

        if (value is JsonObject obj)
        {
            foreach (var name in (schema["required"] as JsonArray ?? []).Select(n => n!.GetValue<string>()))
                if (!obj.ContainsKey(name)) errors.Add($"{at}.{name}: required by the schema, absent");
            var properties = schema["properties"] as JsonObject;
            foreach (var (name, child) in obj)
            {
                if (properties?[name] is JsonObject declared)
                    Validate(child, declared, document, $"{at}.{name}", strict, errors);
                else if (schema["additionalProperties"] is JsonObject additional)
                    Validate(child, additional, document, $"{at}.{name}", strict, errors);
                else if (strict && !(schema["additionalProperties"] is JsonValue allowed && allowed.TryGetValue<bool>(out var yes) && yes))
                    errors.Add($"{at}.{name}: not declared by the schema");
            }
        }
        else if (value is JsonArray array && schema["items"] is JsonObject items)
        {
            for (var i = 0; i < array.Count; i++) Validate(array[i], items, document, $"{at}[{i}]", strict, errors);
        }
    }

    private static JsonObject Resolve(JsonObject schema, JsonObject document)
    {
        while (schema["$ref"]?.GetValue<string>() is { } reference)
        {
            JsonNode? node = document;
            foreach (var part in reference.TrimStart('#').Trim('/').Split('/')) node = node?[part];
            schema = node as JsonObject ?? throw new InvalidOperationException($"unresolvable {reference}");
        }
        return schema;
    }

    private static string KindOf(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v when v.TryGetValue<string>(out _) => "string",
        JsonValue v when v.TryGetValue<bool>(out _) => "boolean",
        JsonValue v when v.TryGetValue<long>(out _) => "integer",
        _ => "number",
    };
}

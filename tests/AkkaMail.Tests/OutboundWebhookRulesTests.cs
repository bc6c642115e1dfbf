using System.Net;
using System.Security.Cryptography;
using System.Text;
using AkkaMail.OutboundWebhooks;
using Xunit;

namespace AkkaMail.Tests;

/// <summary>The outbound webhooks' pure rules: the signature, the address guard, the retry policy, secrets at rest.</summary>
public class OutboundWebhookRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly OutboundWebhookSettings Settings = OutboundWebhookSettings.Default;

    [Fact]
    public void The_signature_is_standard_webhooks_v1_over_id_timestamp_and_body()
    {
        // The example of the Standard Webhooks specification (its reference libraries' test vector).
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        const long timestamp = 1614265330;
        const string body = "{\"test\": 2432232314}";
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", StandardWebhooks.Sign(secret, id, timestamp, body));
        Assert.Equal(StandardWebhooks.Sign(secret, id, timestamp, body) + " " + StandardWebhooks.Sign("whsec_" + Convert.ToBase64String(new byte[32]), id, timestamp, body),
            StandardWebhooks.SignatureHeaderValue([secret, "whsec_" + Convert.ToBase64String(new byte[32])], id, timestamp, body));
        Assert.StartsWith("whsec_", StandardWebhooks.NewSecret());
        Assert.Equal(32, StandardWebhooks.KeyOf(StandardWebhooks.NewSecret()).Length);
    }

    [Theory]
    [InlineData("10.1.2.3"), InlineData("172.16.0.1"), InlineData("172.31.255.255"), InlineData("192.168.1.1"), InlineData("169.254.169.254"),
     InlineData("100.64.0.1"), InlineData("0.0.0.0"), InlineData("224.0.0.1"), InlineData("255.255.255.255"), InlineData("::"),
     InlineData("fe80::1"), InlineData("fc00::1"), InlineData("fd12:3456::1"), InlineData("::ffff:10.0.0.1"), InlineData("::ffff:127.0.0.1"),
     InlineData("127.0.0.1"), InlineData("::1"), InlineData("2002:0a00:0001::1"), InlineData("64:ff9b::a00:1")]
    public void Internal_addresses_are_refused(string address)
    {
        Assert.False(new WebhookAddressGuard(allowLoopback: false).Allows(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("93.184.216.34"), InlineData("172.32.0.1"), InlineData("8.8.8.8"), InlineData("2606:4700::1111"), InlineData("::ffff:8.8.8.8")]
    public void Public_addresses_are_allowed(string address) =>
        Assert.True(new WebhookAddressGuard(allowLoopback: false).Allows(IPAddress.Parse(address)));

    [Fact]
    public void Loopback_alone_is_let_through_by_the_setting()
    {
        var guard = new WebhookAddressGuard(allowLoopback: true);
        Assert.True(guard.Allows(IPAddress.Loopback));
        Assert.True(guard.Allows(IPAddress.IPv6Loopback));
        Assert.False(guard.Allows(IPAddress.Parse("10.0.0.1")));
        Assert.False(guard.Allows(IPAddress.Parse("169.254.169.254")));
    }

    [Theory]
    [InlineData("https://10.0.0.5/hook", false, "private")]
    [InlineData("https://[fe80::1]/hook", false, "private")]
    [InlineData("http://127.0.0.1:9/hook", false, "private")]
    [InlineData("ftp://example.com/", false, "https")]
    [InlineData("https://user:pw@93.184.216.34/", false, "credentials")]
    [InlineData("not a url", false, "https")]
    [InlineData("http://93.184.216.34/", false, "https URL")]
    [InlineData("http://127.0.0.1:9/hook", true, null)]
    [InlineData("https://93.184.216.34/hook", false, null)]
    public async Task An_endpoint_url_is_checked_at_creation(string url, bool allowLoopback, string? refusal)
    {
        var why = await new WebhookAddressGuard(allowLoopback).RefusalAsync(url, default);
        if (refusal is null) Assert.Null(why);
        else Assert.Contains(refusal, why);
    }

    private static WebhookDelivery Pending() => new("whe.e1.1", "whe", "e1", 1, "evt_e1_1", "sent", "{}", T0);

    [Fact]
    public void A_2xx_succeeds_a_410_disables_and_another_4xx_or_a_redirect_stops_the_delivery()
    {
        var (ok, okEffect) = WebhookDeliveryPolicy.After(Pending(), new WebhookAttemptResult.Answered(204, null, null), T0, Settings, 0.5);
        Assert.Equal((WebhookDeliveryStatus.Succeeded, 1, EndpointEffect.Succeeded), (ok.Status, ok.Attempts, okEffect));
        var (gone, goneEffect) = WebhookDeliveryPolicy.After(Pending(), new WebhookAttemptResult.Answered(410, "bye", null), T0, Settings, 0.5);
        Assert.Equal((WebhookDeliveryStatus.Failed, EndpointEffect.Gone), (gone.Status, goneEffect));
        foreach (var status in new[] { 400, 401, 404, 413, 301, 302 })
        {
            var (stopped, effect) = WebhookDeliveryPolicy.After(Pending(), new WebhookAttemptResult.Answered(status, null, null), T0, Settings, 0.5);
            Assert.Equal((WebhookDeliveryStatus.Failed, EndpointEffect.GivenUp, status), (stopped.Status, effect, stopped.LastStatusCode!.Value));
        }
        var (refused, refusedEffect) = WebhookDeliveryPolicy.After(Pending(), new WebhookAttemptResult.Refused("private"), T0, Settings, 0.5);
        Assert.Equal((WebhookDeliveryStatus.Failed, EndpointEffect.GivenUp), (refused.Status, refusedEffect));
    }

    [Fact]
    public void Network_errors_timeouts_429_and_5xx_are_retried_with_growing_backoff_until_the_stated_time()
    {
        var d = Pending();
        var now = T0;
        var waits = new List<TimeSpan>();
        while (true)
        {
            var result = (d.Attempts % 3) switch
            {
                0 => (WebhookAttemptResult)new WebhookAttemptResult.NoAnswer("connection refused"),
                1 => new WebhookAttemptResult.Answered(503, null, null),
                _ => new WebhookAttemptResult.Answered(408, null, null),
            };
            var (next, effect) = WebhookDeliveryPolicy.After(d, result, now, Settings, 0.5);
            if (next.Status == WebhookDeliveryStatus.Failed)
            {
                Assert.Equal(EndpointEffect.GivenUp, effect);
                Assert.Contains("gave up", next.LastError);
                break;
            }
            Assert.Equal(WebhookDeliveryStatus.Pending, next.Status);
            Assert.Equal(T0, next.FirstAttemptAt);
            waits.Add(next.NextAttemptAt - now);
            now = next.NextAttemptAt;
            d = next;
        }
        // 5 s doubling to the 1 h cap (jitter at its middle), within the 24 h window and not beyond it.
        Assert.Equal(TimeSpan.FromSeconds(5), waits[0]);
        Assert.Equal(TimeSpan.FromSeconds(10), waits[1]);
        Assert.Equal(TimeSpan.FromHours(1), waits[^1]);
        Assert.True(now - T0 <= Settings.RetryFor);
        Assert.True(now - T0 > Settings.RetryFor - Settings.MaxBackoff);
    }

    [Fact]
    public void A_429_s_retry_after_is_honoured_and_jitter_stays_within_its_fraction()
    {
        var (next, _) = WebhookDeliveryPolicy.After(Pending(), new WebhookAttemptResult.Answered(429, null, TimeSpan.FromMinutes(2)), T0, Settings, 0.5);
        Assert.Equal(T0.AddMinutes(2), next.NextAttemptAt);
        Assert.Equal(TimeSpan.FromSeconds(4), WebhookDeliveryPolicy.Backoff(1, Settings, 0));
        Assert.Equal(TimeSpan.FromSeconds(6), WebhookDeliveryPolicy.Backoff(1, Settings, 1));
    }

    [Fact]
    public void Secrets_are_encrypted_at_rest_and_read_back_only_with_their_key()
    {
        var protector = new WebhookSecretProtector(RandomNumberGenerator.GetBytes(32));
        var secret = StandardWebhooks.NewSecret();
        var stored = protector.Protect(secret);
        Assert.DoesNotContain(secret[6..], stored);
        Assert.NotEqual(stored, protector.Protect(secret)); // a fresh nonce each time
        Assert.Equal(secret, protector.Unprotect(stored));
        Assert.ThrowsAny<CryptographicException>(() => new WebhookSecretProtector(RandomNumberGenerator.GetBytes(32)).Unprotect(stored));
        var dir = Path.Combine(Path.GetTempPath(), "akkamail-secrets-" + Guid.NewGuid().ToString("N"));
        try
        {
            var fromFile = WebhookSecretProtector.FromSettingOrFile(null, dir);
            Assert.Equal(secret, WebhookSecretProtector.FromSettingOrFile(null, dir).Unprotect(fromFile.Protect(secret)));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, WebhookSecretProtector.KeyFileName)));
            Assert.True(WebhookSecretProtector.IsValidKey(Convert.ToBase64String(new byte[32])));
            Assert.False(WebhookSecretProtector.IsValidKey("short"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void An_endpoint_wants_its_event_types_of_its_tagged_emails_while_enabled()
    {
        var e = new WebhookEndpoint("whe", "u", "https://x", ["delivered"], ["receipt"], true, null, [], 0, T0, T0);
        Assert.True(e.Wants("delivered", ["receipt", "other"]));
        Assert.False(e.Wants("opened", ["receipt"]));
        Assert.False(e.Wants("delivered", ["other"]));
        Assert.False((e with { Enabled = false }).Wants("delivered", ["receipt"]));
        Assert.True((e with { EventTypes = [], Tags = [] }).Wants("sending", []));
        var rotated = e with { Secrets = [new("new", null), new("old", T0.AddHours(1))] };
        Assert.Equal(["new", "old"], rotated.SigningSecrets(T0).Select(s => s.Protected));
        Assert.Equal(["new"], rotated.SigningSecrets(T0.AddHours(1)).Select(s => s.Protected));
    }
}

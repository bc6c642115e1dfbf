using AkkaMail.Providers;
using Microsoft.Extensions.Time.Testing;
using System.Globalization;

namespace AkkaMail.Mailgun.Tests;

/// <summary>
/// Issue #16, item 1: Mailgun's retries (after ~5 min, 10 min, 15 min, 1 h, 2 h, 4 h) carry the original signature
/// block. The default window accepts them all, and a token is remembered as long as its signature is acceptable.
/// </summary>
public class RetryScheduleToleranceTests
{
    private const string Key = "key-retry-schedule";
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static MailgunSignature SignedAt(DateTimeOffset at, string token = "tok-1")
    {
        var ts = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return new MailgunSignature(ts, token, MailgunWebhookVerifier.ComputeSignature(Key, ts, token));
    }

    [Fact]
    public void The_default_tolerance_covers_mailguns_whole_retry_schedule_but_not_more()
    {
        var clock = new FakeTimeProvider(T0);
        var verifier = new MailgunWebhookVerifier(Key, clock, MailgunWebhookVerifier.DefaultTolerance);
        var schedule = new[] { 5, 15, 30, 90, 210, 450 }.Select(m => TimeSpan.FromMinutes(m)); // cumulative: 5m, +10m, +15m, +1h, +2h, +4h
        foreach (var age in schedule.Append(TimeSpan.FromSeconds(301)).Append(TimeSpan.FromHours(7)).Append(TimeSpan.FromHours(8.5)))
            Assert.Equal(WebhookVerification.Valid, verifier.Verify(SignedAt(T0 - age)));
        Assert.Equal(WebhookVerification.Stale, verifier.Verify(SignedAt(T0 - MailgunWebhookVerifier.DefaultTolerance - TimeSpan.FromSeconds(1))));
        // Mailgun never signs in the future: only clock skew is allowed that way.
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(SignedAt(T0.AddMinutes(4))));
        Assert.Equal(WebhookVerification.Stale, verifier.Verify(SignedAt(T0.AddMinutes(6))));
    }

    [Fact]
    public async Task A_remembered_token_stays_a_replay_for_as_long_as_its_signature_would_be_accepted()
    {
        var clock = new FakeTimeProvider(T0);
        var verifier = new MailgunWebhookVerifier(Key, clock, MailgunWebhookVerifier.DefaultTolerance);
        var store = new InMemoryWebhookTokenStore(clock);
        var signature = SignedAt(T0);
        await verifier.RememberAsync(signature, store);

        clock.SetUtcNow(T0 + MailgunWebhookVerifier.DefaultTolerance - TimeSpan.FromSeconds(1));
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(signature));
        Assert.True(await verifier.IsReplayAsync(signature, store));

        clock.SetUtcNow(T0 + MailgunWebhookVerifier.DefaultTolerance + TimeSpan.FromSeconds(1));
        Assert.Equal(WebhookVerification.Stale, verifier.Verify(signature)); // forgotten only once refused anyway
    }
}

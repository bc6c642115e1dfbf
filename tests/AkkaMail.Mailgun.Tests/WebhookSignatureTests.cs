using AkkaMail.Providers;
using Microsoft.Extensions.Time.Testing;
namespace AkkaMail.Mailgun.Tests;

public class WebhookSignatureTests
{
    private static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    public static TheoryData<string> SignedSamples()
    {
        var data = new TheoryData<string>();
        foreach (var f in Samples.SignedFiles) data.Add(f);
        return data;
    }

    [Fact]
    public void There_are_eleven_signed_samples() => Assert.Equal(11, Samples.SignedFiles.Count());

    [Theory]
    [MemberData(nameof(SignedSamples))]
    public void Every_signed_sample_verifies_with_its_key(string file)
    {
        var verifier = new MailgunWebhookVerifier(Samples.KeyFor(file), Samples.ClockFor(file), Tolerance);
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(Samples.Signature(file)));
    }

    [Theory]
    [MemberData(nameof(SignedSamples))]
    public void Signature_hex_is_case_insensitive(string file)
    {
        var s = Samples.Signature(file);
        var verifier = new MailgunWebhookVerifier(Samples.KeyFor(file), Samples.ClockFor(file), Tolerance);
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(s.Timestamp, s.Token, s.Signature.ToUpperInvariant()));
    }

    [Theory]
    [MemberData(nameof(SignedSamples))]
    public void Wrong_key_is_a_bad_signature(string file)
    {
        var verifier = new MailgunWebhookVerifier("not-the-key", Samples.ClockFor(file), Tolerance);
        Assert.Equal(WebhookVerification.BadSignature, verifier.Verify(Samples.Signature(file)));
    }

    [Theory]
    [MemberData(nameof(SignedSamples))]
    public void Tampering_any_single_character_fails(string file)
    {
        var s = Samples.Signature(file);
        var clock = Samples.ClockFor(file);
        var verifier = new MailgunWebhookVerifier(Samples.KeyFor(file), clock, TimeSpan.FromDays(365 * 100));
        var checkedCount = 0;
        for (var i = 0; i < s.Timestamp.Length; i++)
        {
            Assert.NotEqual(WebhookVerification.Valid, verifier.Verify(Tamper(s.Timestamp, i), s.Token, s.Signature));
            checkedCount++;
        }
        for (var i = 0; i < s.Token.Length; i++)
        {
            Assert.NotEqual(WebhookVerification.Valid, verifier.Verify(s.Timestamp, Tamper(s.Token, i), s.Signature));
            checkedCount++;
        }
        for (var i = 0; i < s.Signature.Length; i++)
        {
            var result = verifier.Verify(s.Timestamp, s.Token, Tamper(s.Signature, i));
            Assert.Equal(WebhookVerification.BadSignature, result);
            checkedCount++;
        }
        Assert.Equal(s.Timestamp.Length + s.Token.Length + 64, checkedCount);
        // and the untampered one still passes with this huge tolerance
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(s));
    }

    /// <summary>Changes the character at <paramref name="i"/> to a different hex digit / digit (a different value even case-insensitively).</summary>
    private static string Tamper(string s, int i)
    {
        var c = s[i] == '0' ? '1' : '0';
        return string.Concat(s.AsSpan(0, i), c.ToString(), s.AsSpan(i + 1));
    }

    [Theory]
    [InlineData(-301, WebhookVerification.Stale)]
    [InlineData(-299, WebhookVerification.Valid)]
    [InlineData(0, WebhookVerification.Valid)]
    [InlineData(299, WebhookVerification.Valid)]
    [InlineData(301, WebhookVerification.Stale)]
    [InlineData(86400 * 365 * 4, WebhookVerification.Stale)]
    public void Freshness_window_applies_both_directions(int nowMinusTimestampSeconds, WebhookVerification expected)
    {
        const string file = "symfony_delivered_messages.json";
        var s = Samples.Signature(file);
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(long.Parse(s.Timestamp)).AddSeconds(nowMinusTimestampSeconds));
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey, clock, Tolerance);
        Assert.Equal(expected, verifier.Verify(s));
    }

    [Fact]
    public void System_clock_rejects_the_2022_samples_as_stale()
    {
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey);
        Assert.Equal(WebhookVerification.Stale, verifier.Verify(Samples.Signature("symfony_opens.json")));
    }

    [Theory]
    [InlineData(null, "tok", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("", "tok", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("12a4", "tok", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("-1661621710", "tok", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("99999999999999999999", "tok", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("1661621710", null, "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("1661621710", "", "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("1661621710", "tok", null)]
    [InlineData("1661621710", "tok", "")]
    [InlineData("1661621710", "tok", "abc")]
    [InlineData("1661621710", "tok", "zz00000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("1661621710", "tok", "00000000000000000000000000000000000000000000000000000000000000000")]
    public void Malformed_inputs_are_reported_as_malformed(string? timestamp, string? token, string? signature)
    {
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey, new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1661621710)), Tolerance);
        Assert.Equal(WebhookVerification.Malformed, verifier.Verify(timestamp, token, signature));
    }

    [Fact]
    public void ComputeSignature_reproduces_the_samples()
    {
        foreach (var file in Samples.SignedFiles)
        {
            var s = Samples.Signature(file);
            Assert.Equal(s.Signature, MailgunWebhookVerifier.ComputeSignature(Samples.KeyFor(file), s.Timestamp, s.Token));
        }
    }

    [Fact]
    public async Task Replayed_token_is_rejected_by_the_token_store()
    {
        const string file = "symfony_clicks.json";
        var clock = Samples.ClockFor(file);
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey, clock, Tolerance);
        var store = new InMemoryWebhookTokenStore(clock);
        var s = Samples.Signature(file);
        Assert.Equal(WebhookVerification.Valid, await verifier.VerifyAndRememberAsync(s, store));
        Assert.Equal(WebhookVerification.Replayed, await verifier.VerifyAndRememberAsync(s, store));
        // a bad signature does not burn the token of a real one
        var forged = s with { Signature = new string('0', 64) };
        Assert.Equal(WebhookVerification.BadSignature, await verifier.VerifyAndRememberAsync(forged, new InMemoryWebhookTokenStore(clock)));
    }

    [Fact]
    public async Task Stale_event_is_rejected_before_the_store_is_consulted()
    {
        const string file = "symfony_opens.json";
        var clock = Samples.ClockFor(file);
        clock.Advance(TimeSpan.FromMinutes(10));
        var verifier = new MailgunWebhookVerifier(Samples.SymfonyKey, clock, Tolerance);
        var store = new InMemoryWebhookTokenStore(clock);
        Assert.Equal(WebhookVerification.Stale, await verifier.VerifyAndRememberAsync(Samples.Signature(file), store));
        Assert.Equal(0, store.Count);
    }
}

using System.Text;
using AkkaMail.Domain;
using AkkaMail.Serialization;
using Xunit;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Tests;

/// <summary>
/// Payloads as they are stored in journals today (captured once from the serializer, never regenerated): they
/// must deserialize forever. If this fails, a rename broke recovery: add a new manifest (".v2") instead.
/// </summary>
public class StoredPayloadTests : Akka.TestKit.Xunit2.TestKit
{
    public StoredPayloadTests() : base(TestActorSystems.Create(T.Hocon)) { }

    public static TheoryData<int, string, string> Stored() => new()
    {
        { 0, "email-accepted.v1", """{"emailId":"e1","userId":"u1","content":{"from":"Sender \u003Csender@example.com\u003E","to":["Ann \u003Cann@example.com\u003E","bob@example.com"],"cc":["cc@example.com"],"bcc":["bcc@example.com"],"replyTo":"reply@example.com","subject":"Hello","text":"text body","html":"\u003Cp\u003Ehtml\u003C/p\u003E","tags":["t1"],"headers":{"X-A":"1"},"variables":{"v":"w"},"attachments":[{"fileName":"a.txt","contentType":"text/plain","contentBase64":"aGVsbG8="}]},"at":"2026-11-27T12:00:00.123+00:00","idempotencyKey":"key-1","requestFingerprint":"fp-1","sendAt":"2026-11-27T13:00:00.123+00:00"}""" },
        { 1, "email-accepted.v1", """{"emailId":"e2","userId":"u1","content":{"from":"Sender \u003Csender@example.com\u003E","to":["x@example.com"],"cc":[],"bcc":[],"subject":"Hello","text":"text body","tags":["t1"],"headers":{"X-A":"1"},"variables":{"v":"w"},"attachments":[]},"at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 2, "email-dispatched.v1", """{"emailId":"e1","attempt":1,"at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 3, "send-attempt-started.v1", """{"emailId":"e1","attempt":1,"at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 4, "email-sent.v1", """{"emailId":"e1","attempt":1,"providerMessageId":"\u003Cpm-1@mg.example.com\u003E","at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 5, "send-retry-scheduled.v1", """{"emailId":"e1","attempt":1,"reason":"429 too many","nextAttemptAt":"2026-11-27T12:00:30.123+00:00","at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 6, "email-send-failed.v1", """{"emailId":"e1","attempt":2,"reason":"550 no such domain","at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 7, "email-cancelled.v1", """{"emailId":"e1","at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 8, "provider-event-recorded.v1", """{"emailId":"e1","event":{"eventId":"ev-1","kind":"temporary_failure","recipient":"bob@example.com","occurredAt":"2026-11-27T12:00:00.123+00:00","providerMessageId":"\u003Cpm-1@mg.example.com\u003E","reason":"mailbox full","code":452,"description":"try later"},"at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 9, "provider-event-recorded.v1", """{"emailId":"e1","event":{"eventId":"ev-2","kind":"clicked","recipient":"bob@example.com","occurredAt":"2026-11-27T12:00:00.123+00:00","url":"https://x.io/?a=1\u0026b=2"},"at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 10, "email-accepted.v1", """{"emailId":"e3","userId":"u1","content":{"from":"Sender \u003Csender@example.com\u003E","to":["ann@example.com","bob@example.com"],"cc":[],"bcc":[],"subject":"Hello","text":"text body","html":"\u003Cp\u003Ehtml\u003C/p\u003E","tags":["t1"],"headers":{"X-A":"1"},"variables":{"v":"w"},"attachments":[]},"at":"2026-11-27T12:00:00.123+00:00","suppressed":{"bob@example.com":"bounced"}}""" },
        { 13, "provider-report-missing.v1", """{"emailId":"e1","provider":"mailgun","recipients":["bob@example.com","cc@example.com"],"retention":"3.00:00:00","at":"2026-11-27T12:00:00.123+00:00"}""" },
        { 11, "email-send-failed.v1", """{"emailId":"e1","attempt":5,"reason":"gave up after 5 attempts: 503","at":"2026-11-27T12:00:00.123+00:00","kind":"attempts_exhausted"}""" },
    };

    private const string StoredSnapshot = """{"emailId":"e1","userId":"u1","content":{"from":"Sender \u003Csender@example.com\u003E","to":["Ann \u003Cann@example.com\u003E","a.b@example.com","a-c@example.com","a_d@example.com","ab@example.com","a1@example.com"],"cc":[],"bcc":[],"subject":"Hello","text":"text body","html":"\u003Cp\u003Ehtml\u003C/p\u003E","tags":["t1"],"headers":{"X-A":"1"},"variables":{"v":"w"},"attachments":[]},"acceptedAt":"2026-11-27T12:00:00+00:00","idempotencyKey":"k","requestFingerprint":"fp","phase":"sent","attempt":2,"dispatched":false,"nextAttemptAt":"2026-11-27T12:00:02+00:00","attemptStartedAt":"2026-11-27T12:01:00+00:00","providerMessageId":"pm-1","failureReason":"busy","updatedAt":"2026-11-27T12:05:00+00:00","recipients":{"a-c@example.com":{"address":"a-c@example.com","status":"pending","complained":false,"unsubscribed":false,"engagements":[],"opens":0,"clicks":0},"a.b@example.com":{"address":"a.b@example.com","status":"pending","complained":false,"unsubscribed":false,"engagements":[],"opens":0,"clicks":0},"a1@example.com":{"address":"a1@example.com","status":"pending","complained":false,"unsubscribed":false,"engagements":[],"opens":0,"clicks":0},"a_d@example.com":{"address":"a_d@example.com","status":"pending","complained":false,"unsubscribed":false,"engagements":[],"opens":0,"clicks":0},"ab@example.com":{"address":"ab@example.com","status":"failed","statusAt":"2026-11-27T12:04:00+00:00","statusEventId":"f1","reason":"bounce","code":550,"complained":false,"unsubscribed":false,"engagements":[],"opens":0,"clicks":0},"ann@example.com":{"address":"ann@example.com","status":"delivered","statusAt":"2026-11-27T12:02:00+00:00","statusEventId":"d1","code":250,"complained":false,"unsubscribed":true,"engagements":[{"kind":"opened","at":"2026-11-27T12:03:00+00:00","eventId":"o1"},{"kind":"clicked","at":"2026-11-27T12:04:00+00:00","eventId":"c1","url":"https://x.io"}],"opens":1,"clicks":1}},"seenProviderEvents":["c1","f1","u1","d1","o1"],"timeline":[{"at":"2026-11-27T12:00:00+00:00","type":"accepted"},{"at":"2026-11-27T12:00:00+00:00","type":"dispatched","detail":"attempt 1"},{"at":"2026-11-27T12:00:00+00:00","type":"sending","detail":"attempt 1"},{"at":"2026-11-27T12:00:00+00:00","type":"retry_scheduled","detail":"attempt 1 failed: busy; next at 2026-11-27T12:00:02.0000000\u002B00:00"},{"at":"2026-11-27T12:01:00+00:00","type":"sending","detail":"attempt 2"},{"at":"2026-11-27T12:01:00+00:00","type":"sent","detail":"pm-1"},{"at":"2026-11-27T12:02:00+00:00","type":"delivered","recipient":"ann@example.com"},{"at":"2026-11-27T12:03:00+00:00","type":"opened","recipient":"ann@example.com"},{"at":"2026-11-27T12:04:00+00:00","type":"clicked","recipient":"ann@example.com","detail":"https://x.io"},{"at":"2026-11-27T12:04:00+00:00","type":"permanent_failure","recipient":"ab@example.com","detail":"550 bounce"},{"at":"2026-11-27T12:05:00+00:00","type":"unsubscribed","recipient":"ann@example.com"}],"version":11,"exists":true,"status":"sent","isCancellable":false}""";

    private EmailEventSerializer Serializer => (EmailEventSerializer)Sys.Serialization.FindSerializerForType(typeof(IEmailEvent));

    [Theory]
    [MemberData(nameof(Stored))]
    public void A_stored_event_still_deserializes_to_what_was_written(int sample, string manifest, string json)
    {
        var back = Serializer.FromBinary(Encoding.UTF8.GetBytes(json), manifest);
        var expected = SerializerTests.OneOfEach()[sample];
        Assert.IsType(expected.GetType(), back);
        Assert.Equal(T.Json(expected), T.Json(back));
    }

    [Fact]
    public void Every_manifest_has_a_stored_sample()
    {
        var sampled = Stored().Select(r => (string)r[1]).Append("email-state-snapshot.v1").ToHashSet();
        Assert.Equal(EmailEventSerializer.Manifests.ToHashSet(), sampled);
    }

    [Fact]
    public void A_stored_snapshot_still_deserializes()
    {
        var s = Assert.IsType<EmailState>(Serializer.FromBinary(Encoding.UTF8.GetBytes(StoredSnapshot), "email-state-snapshot.v1"));
        Assert.Equal("e1", s.EmailId);
        Assert.Equal(SendPhase.Sent, s.Phase);
        Assert.Equal(2, s.Attempt);
        Assert.Equal(11, s.Version);
        Assert.Equal("pm-1", s.ProviderMessageId);
        Assert.Equal(new[] { "a-c@example.com", "a.b@example.com", "a1@example.com", "a_d@example.com", "ab@example.com", "ann@example.com" },
            s.Recipients.Keys);
        var ann = s.Recipients["ann@example.com"];
        Assert.Equal(RecipientStatus.Delivered, ann.Status);
        Assert.True(ann.Unsubscribed);
        Assert.Equal(1, ann.Opens);
        Assert.Equal(1, ann.Clicks);
        Assert.Equal(RecipientStatus.Failed, s.Recipients["ab@example.com"].Status);
        Assert.Equal(5, s.SeenProviderEvents.Count);
        Assert.Equal(11, s.Timeline.Count);
        Assert.Equal(EmailStatus.Sent, s.Status);
        // Stored before sent emails dropped their bodies from the state: they are read as stored, and the rest is
        // the state the same events give today.
        Assert.Equal("text body", s.Content!.Text);
        Assert.Equal("<p>html</p>", s.Content.Html);
        // Stored before the settling time existed: none (retention counts from its last change then, never earlier).
        Assert.Null(s.SettledAt);
        Assert.Null(s.BodiesRemovedAt);
        // Stored before body sizes were kept: none (the storage figures count such an email's bodies as 0 bytes).
        Assert.Equal(0, s.BodyBytes);
        Assert.Equal(T.Json(SerializerTests.RichState() with { SettledAt = null, BodyBytes = 0 }),
            T.Json(s with { Content = s.Content with { Text = null, Html = null, Attachments = Array.Empty<EmailAttachment>() } }));
    }
}

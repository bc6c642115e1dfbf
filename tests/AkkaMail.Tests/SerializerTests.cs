using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;
using AkkaMail.Domain;
using AkkaMail.Serialization;
using Xunit;
using static AkkaMail.Domain.EmailEvents;
using static AkkaMail.Domain.EmailCommands;

namespace AkkaMail.Tests;

public class SerializerTests : Akka.TestKit.Xunit2.TestKit
{
    public SerializerTests() : base(TestActorSystems.Create(T.Hocon)) { }

    private EmailEventSerializer Serializer => (EmailEventSerializer)Sys.Serialization.FindSerializerForType(typeof(IEmailEvent));

    private static readonly DateTimeOffset At = new(2026, 11, 27, 12, 0, 0, 123, TimeSpan.Zero);

    public static IReadOnlyList<IEmailEvent> OneOfEach() => new IEmailEvent[]
    {
        new EmailAccepted("e1", "u1", T.Content("Ann <ann@example.com>", "bob@example.com") with
        {
            Cc = new[] { "cc@example.com" }, Bcc = new[] { "bcc@example.com" }, ReplyTo = "reply@example.com",
            Attachments = new[] { new EmailAttachment("a.txt", "text/plain", "aGVsbG8=") },
        }, At, "key-1", "fp-1", At.AddHours(1)),
        new EmailAccepted("e2", "u1", T.Content("x@example.com") with { Html = null }, At),
        new EmailDispatched("e1", 1, At),
        new SendAttemptStarted("e1", 1, At),
        new EmailSent("e1", 1, "<pm-1@mg.example.com>", At),
        new SendRetryScheduled("e1", 1, "429 too many", At.AddSeconds(30), At),
        new EmailSendFailed("e1", 2, "550 no such domain", At),
        new EmailCancelled("e1", At),
        new ProviderEventRecorded("e1", new ProviderEvent("ev-1", ProviderEventKind.TemporaryFailure, "bob@example.com", At,
            "<pm-1@mg.example.com>", "mailbox full", 452, "try later"), At),
        new ProviderEventRecorded("e1", new ProviderEvent("ev-2", ProviderEventKind.Clicked, "bob@example.com", At, Url: "https://x.io/?a=1&b=2"), At),
        new EmailAccepted("e3", "u1", T.Content("ann@example.com", "bob@example.com"), At,
            Suppressed: new Dictionary<string, string> { ["bob@example.com"] = "bounced" }),
        new EmailSendFailed("e1", 5, "gave up after 5 attempts: 503", At, SendFailureKind.AttemptsExhausted),
        new EmailAccepted("e4", "u1", T.Content("ann@example.com", "bob@example.com"), At, Template: new TemplateUse("welcome", 3)),
        new ProviderReportMissing("e1", "mailgun", ["bob@example.com", "cc@example.com"], TimeSpan.FromDays(3), At),
    };

    public static EmailState RichState()
    {
        const string id = "e1";
        var s = EmailState.Empty(id).Run(new AcceptEmail(id, "u1", T.Content("Ann <ann@example.com>", "a.b@example.com", "a-c@example.com",
            "a_d@example.com", "ab@example.com", "a1@example.com"), "k", "fp"), T.Ctx(T.T0));
        s = s.Run(new MarkDispatched(id, 1), T.Ctx(T.T0));
        s = s.Run(new BeginSendAttempt(id, 1), T.Ctx(T.T0));
        s = s.Run(new RecordSendOutcome(id, 1, new SendOutcome.Transient("busy")), T.Ctx(T.T0));
        s = s.Run(new BeginSendAttempt(id, 2), T.Ctx(T.T0.AddMinutes(1)));
        s = s.Run(new RecordSendOutcome(id, 2, new SendOutcome.Sent("pm-1")), T.Ctx(T.T0.AddMinutes(1)));
        s = s.Run(new ApplyProviderEvent(id, T.Pe("d1", ProviderEventKind.Delivered, 2, "ann@example.com", code: 250, messageId: "pm-1")), T.Ctx(T.T0.AddMinutes(2)));
        s = s.Run(new ApplyProviderEvent(id, T.Pe("o1", ProviderEventKind.Opened, 3, "ann@example.com", messageId: "pm-1")), T.Ctx(T.T0.AddMinutes(3)));
        s = s.Run(new ApplyProviderEvent(id, T.Pe("c1", ProviderEventKind.Clicked, 4, "ann@example.com", url: "https://x.io", messageId: "pm-1")), T.Ctx(T.T0.AddMinutes(4)));
        s = s.Run(new ApplyProviderEvent(id, T.Pe("f1", ProviderEventKind.PermanentFailure, 4, "ab@example.com", reason: "bounce", code: 550, messageId: "pm-1")), T.Ctx(T.T0.AddMinutes(4)));
        s = s.Run(new ApplyProviderEvent(id, T.Pe("u1", ProviderEventKind.Unsubscribed, 5, "ann@example.com", messageId: "pm-1")), T.Ctx(T.T0.AddMinutes(5)));
        return s;
    }

    [Fact]
    public void Events_and_snapshots_are_bound_to_our_serializer()
    {
        foreach (var e in OneOfEach())
            Assert.IsType<EmailEventSerializer>(Sys.Serialization.FindSerializerFor(e));
        Assert.IsType<EmailEventSerializer>(Sys.Serialization.FindSerializerFor(EmailState.Empty("x")));
        Assert.Equal(EmailEventSerializer.SerializerId, Serializer.Identifier);
    }

    [Fact]
    public void Every_event_type_has_a_manifest_and_round_trips()
    {
        var eventTypes = typeof(EmailEvents).GetNestedTypes().Where(t => typeof(IEmailEvent).IsAssignableFrom(t)).ToHashSet();
        Assert.Equal(eventTypes, OneOfEach().Select(e => e.GetType()).ToHashSet());
        foreach (var e in OneOfEach())
        {
            var manifest = Serializer.Manifest(e);
            Assert.DoesNotContain("AkkaMail", manifest);
            var bytes = Serializer.ToBinary(e);
            var back = Serializer.FromBinary(bytes, manifest);
            Assert.IsType(e.GetType(), back);
            Assert.Equal(T.Json(e), T.Json(back));
            Assert.Equal(bytes, Serializer.ToBinary(back));
            // Through Akka's own serialization entry point too (what the journal plugins call).
            var viaAkka = Sys.Serialization.Deserialize(Sys.Serialization.Serialize(e), EmailEventSerializer.SerializerId, manifest);
            Assert.Equal(T.Json(e), T.Json(viaAkka));
        }
        // Records without collections compare by value.
        foreach (var e in OneOfEach().Where(e => e is not EmailAccepted and not ProviderReportMissing))
            Assert.Equal(e, Serializer.FromBinary(Serializer.ToBinary(e), Serializer.Manifest(e)));
    }

    [Fact]
    public void The_snapshot_round_trips_with_its_ordinal_recipient_order()
    {
        var s = RichState();
        var manifest = Serializer.Manifest(s);
        Assert.Equal("email-state-snapshot.v1", manifest);
        var back = Assert.IsType<EmailState>(Serializer.FromBinary(Serializer.ToBinary(s), manifest));
        Assert.Equal(T.Json(s), T.Json(back));
        Assert.Equal(s.Status, back.Status);
        Assert.Equal(s.Recipients.Keys, back.Recipients.Keys);
        Assert.Same(StringComparer.Ordinal, back.Recipients.KeyComparer);
        Assert.Equal(s.SeenProviderEvents.OrderBy(x => x, StringComparer.Ordinal), back.SeenProviderEvents.OrderBy(x => x, StringComparer.Ordinal));
        // The recovered state keeps deciding like the original.
        var d1 = s.Decide(new ApplyProviderEvent("e1", T.Pe("z", ProviderEventKind.Delivered, 9, "zz@example.com", messageId: "pm-1")), T.Ctx(T.T0.AddHours(1)));
        var d2 = back.Decide(new ApplyProviderEvent("e1", T.Pe("z", ProviderEventKind.Delivered, 9, "zz@example.com", messageId: "pm-1")), T.Ctx(T.T0.AddHours(1)));
        Assert.Equal(T.Json(s.Apply(d1.Events[0])), T.Json(back.Apply(d2.Events[0])));
        Assert.Equal(T.Json(s.Apply(d1.Events[0]).Recipients.Keys), T.Json(back.Apply(d2.Events[0]).Recipients.Keys));
    }

    [Fact]
    public void An_acceptance_written_before_templates_existed_reads_with_no_template_and_one_with_a_template_keeps_it()
    {
        // email-accepted.v1 as journals hold it from before the template field: no "template" member.
        var old = Encoding.UTF8.GetBytes("""{"emailId":"e9","userId":"u1","content":{"from":"a@example.com","to":["b@example.com"],"cc":[],"bcc":[],"subject":"s","text":"t","tags":[],"headers":{},"variables":{},"attachments":[]},"at":"2026-11-27T12:00:00.123+00:00"}""");
        var accepted = Assert.IsType<EmailAccepted>(Serializer.FromBinary(old, "email-accepted.v1"));
        Assert.Null(accepted.Template);
        Assert.Equal("s", accepted.Content.Subject);
        Assert.Null(EmailState.Empty("e9").Apply(accepted).Template);
        // A plain acceptance is still written without the field, as before.
        Assert.DoesNotContain("template", Encoding.UTF8.GetString(Serializer.ToBinary(accepted)));

        var withTemplate = accepted with { Template = new TemplateUse("welcome", 2) };
        var back = Assert.IsType<EmailAccepted>(Serializer.FromBinary(Serializer.ToBinary(withTemplate), "email-accepted.v1"));
        Assert.Equal(new TemplateUse("welcome", 2), back.Template);
        var state = EmailState.Empty("e9").Apply(back);
        Assert.Equal(new TemplateUse("welcome", 2), state.Template);
        // The snapshot keeps it too.
        var snapshot = Assert.IsType<EmailState>(Serializer.FromBinary(Serializer.ToBinary(state), "email-state-snapshot.v1"));
        Assert.Equal(new TemplateUse("welcome", 2), snapshot.Template);
    }

    [Fact]
    public void Unknown_manifest_throws_and_unmapped_types_have_no_manifest()
    {
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(Encoding.UTF8.GetBytes("{}"), "email-renamed.v1"));
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(Encoding.UTF8.GetBytes("{}"), "AkkaMail.Domain.EmailEvents+EmailSent, AkkaMail.Domain"));
        Assert.ThrowsAny<ArgumentException>(() => Serializer.Manifest("a string"));
    }
}

using System.Text.Json;
using Akka.Serialization;
using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>
/// In cluster mode the commands to an email and its replies cross nodes (the email's entity lives on one node, the
/// API, the sender and the webhooks on any): each must come back from the actor system's serialization as it went in.
/// </summary>
public sealed class RemoteMessageTests : Akka.TestKit.Xunit2.TestKit
{
    public RemoteMessageTests() : base(TestActorSystems.Create(T.Hocon)) { }

    private static readonly DateTimeOffset At = new(2026, 12, 4, 12, 0, 0, 123, TimeSpan.Zero);

    public static TheoryData<string> Names() => [.. OneOfEach().Select((m, i) => $"{m.GetType().Name}:{i}")];

    private static List<object> OneOfEach()
    {
        var content = T.Content("Ann <ann@example.com>", "bob@example.com") with
        {
            Cc = ["cc@example.com"], Headers = new Dictionary<string, string> { ["X-Order"] = "42" },
            Variables = new Dictionary<string, string> { ["order"] = "42" },
            Attachments = [new EmailAttachment("a.txt", "text/plain", "aGVsbG8=")],
        };
        var evt = new ProviderEvent("ev-1", ProviderEventKind.PermanentFailure, "bob@example.com", At, "<pm@x>", "bounce", 550, "no such user");
        return
        [
            new AcceptEmail("e1", "u1", content, "key", "fp", At, new Dictionary<string, string> { ["c@example.com"] = "bounced" }),
            new AcceptEmail("e2", "u1", content),
            new MarkDispatched("e1", 1),
            new BeginSendAttempt("e1", 2),
            new RecordSendOutcome("e1", 1, new SendOutcome.Sent("pm-1")),
            new RecordSendOutcome("e1", 1, new SendOutcome.Sent("pm-2", "smtp")),
            new ApplyProviderEvent("e1", evt with { Provider = "mailgun" }),
            new RecordSendOutcome("e1", 1, new SendOutcome.Transient("busy", TimeSpan.FromSeconds(30))),
            new RecordSendOutcome("e1", 1, new SendOutcome.Permanent("550")),
            new ApplyProviderEvent("e1", evt),
            new CancelEmail("e1"),
            new SweepDispatch("e1", TimeSpan.FromMinutes(5), At),
            new GetEmailState("e1"),
            new ApplyRetention("e1", new RetentionPolicy(TimeSpan.FromDays(7), TimeSpan.FromDays(90))),
            new ApplyRetention("e1", RetentionPolicy.Forever),
            new ApplyRetention("e1", RetentionPolicy.EraseNow),
            new RetentionApplied("e1", RetentionStep.RemoveBodies, "u1"),
            new RetentionApplied("e1", RetentionStep.Keep, null),
            new MarkNoProviderReport("e1", "mailgun", TimeSpan.FromDays(3)),
            new NoProviderReportMarked("e1", true),
            new EmailAccepted("e1", EmailStatus.Queued, true),
            new IdempotencyConflict("e1"),
            new SendApproved("e1", 1, content, ["bob@example.com"]),
            new SendDenied("e1", 1, new DenialReason.NotYetDue(At)),
            new SendDenied("e1", 1, new DenialReason.NotCurrent(EmailStatus.Sent, 2)),
            new OutcomeRecorded("e1", NextStep.Retry, 2, TimeSpan.FromSeconds(10)),
            new ProviderEventApplied("e1", ProviderEventResult.Duplicate),
            new ProviderEventApplied("e1", ProviderEventResult.OtherProvider),
            new Cancelled("e1"),
            new CannotCancel("e1", EmailStatus.Sending),
            new UnknownEmail("e1"),
            SerializerTests.RichState(),
            new Actors.PipelineMessages.EmailChanged("e1", "u1", "failed", new EmailEvents.ProviderEventRecorded("e1", evt, At), 7),
            new Actors.PipelineMessages.EmailChanged("e1", "u1", "queued", new EmailEvents.EmailAccepted("e1", "u1", content, At), 1),
            new Actors.PipelineMessages.EmailChanged("e1", "u1", "sent",
                new EmailEvents.ProviderReportMissing("e1", "mailgun", ["bob@example.com"], TimeSpan.FromDays(3), At), 9),
            new ReadModel.ReadSideFollowerActor.Advanced(42),
        ];
    }

    [Fact]
    public void Every_command_and_reply_has_a_manifest()
    {
        var crossing = typeof(IEmailCommand).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && Serialization.EmailMessageSerializer.BoundTypes.Any(b => b.IsAssignableFrom(t)))
            .ToList();
        Assert.Contains(typeof(AcceptEmail), crossing);
        Assert.Empty(crossing.Except(Serialization.EmailMessageSerializer.Types));
        Assert.All(crossing, t => Assert.IsType<Serialization.EmailMessageSerializer>(Sys.Serialization.FindSerializerForType(t)));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Crosses_nodes_unchanged(string name)
    {
        var message = OneOfEach()[int.Parse(name.Split(':')[1])];
        var serializer = Sys.Serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);
        var back = serializer switch
        {
            SerializerWithStringManifest s => s.FromBinary(bytes, s.Manifest(message)),
            _ => serializer.FromBinary(bytes, message.GetType()),
        };
        Assert.IsType(message.GetType(), back);
        Assert.Equal(JsonSerializer.Serialize(message, message.GetType()), JsonSerializer.Serialize(back, message.GetType()));
    }
}

using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using AkkaMail.Serialization;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Tests;

public static class T
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    public static readonly RetryPolicy Policy = new(5, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1), 0.2);

    public static DecisionContext Ctx(DateTimeOffset now, double random01 = 0.5) =>
        new(now, Policy, TimeSpan.FromMinutes(2), random01);

    public static EmailContent Content(params string[] to) => new(
        "Sender <sender@example.com>", to, Array.Empty<string>(), Array.Empty<string>(), null, "Hello", "text body", "<p>html</p>",
        new[] { "t1" }, new Dictionary<string, string> { ["X-A"] = "1" }, new Dictionary<string, string> { ["v"] = "w" },
        Array.Empty<EmailAttachment>());

    public static EmailContent OneRecipient => Content("Rcpt <rcpt@example.com>");

    /// <summary>JSON through our serializer's options: a structural comparison for records holding collections.</summary>
    public static string Json(object o) => JsonSerializer.Serialize(o, o.GetType(), EmailEventSerializer.Json);

    public static ProviderEvent Pe(string id, ProviderEventKind kind, int minute, string recipient = "rcpt@example.com",
        string? url = null, string? reason = null, int? code = null, string? messageId = "pmid-1") =>
        new(id, kind, recipient, T0.AddMinutes(minute), messageId, reason, code, null, url);

    public const string Hocon = """
        akka.loglevel = WARNING
        # The machine is shared: waits are generous, and only the failing case ever waits them out.
        akka.test.single-expect-default = 10s
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.actor {
          serializers { akkamail-json = "AkkaMail.Serialization.EmailEventSerializer, AkkaMail" }
          serialization-bindings {
            "AkkaMail.Domain.IEmailEvent, AkkaMail.Domain" = akkamail-json
            "AkkaMail.Domain.EmailState, AkkaMail.Domain" = akkamail-json
          }
          serialization-identifiers { "AkkaMail.Serialization.EmailEventSerializer, AkkaMail" = 4711 }
        }
        """;
}

public static class ActorTestExtensions
{
    /// <summary>Asks the email's state: every message told to <paramref name="target"/> before is handled by then, and
    /// none of them was answered (a stray answer would arrive first and fail the expectation).</summary>
    public static EmailState HandledSoFar(this Akka.TestKit.TestKitBase kit, Akka.Actor.IActorRef target, string emailId)
    {
        target.Tell(new EmailCommands.GetEmailState(emailId), kit.TestActor);
        return kit.ExpectMsg<EmailState>();
    }
}

/// <summary>Decide, then apply what was decided: what the actor does, without the actor.</summary>
public static class StateExtensions
{
    public static EmailState Run(this EmailState s, IEmailCommand c, DecisionContext ctx, out object? reply, out IReadOnlyList<IEmailEvent> events)
    {
        var d = s.Decide(c, ctx);
        reply = d.Reply;
        events = d.Events;
        foreach (var e in d.Events) s = s.Apply(e);
        return s;
    }

    public static EmailState Run(this EmailState s, IEmailCommand c, DecisionContext ctx) => s.Run(c, ctx, out _, out _);

    /// <summary>The decision's dispatch, if it has one (at most one).</summary>
    public static EmailEffect.Dispatch? Dispatch(this Decision d) => d.Effects.OfType<EmailEffect.Dispatch>().SingleOrDefault();

    public static EmailState Run(this EmailState s, IEmailCommand c, DecisionContext ctx, out object? reply) => s.Run(c, ctx, out reply, out _);
}

public sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    private long _ticks = now.UtcTicks;
    public DateTimeOffset Now
    {
        get => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _ticks, value.UtcTicks);
    }
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Records every email change published after a persist (what real-time clients and the read side see).</summary>
public sealed class ChangeRecorder : ReceiveActor
{
    public ChangeRecorder(ConcurrentQueue<EmailChanged> changes) => Receive<EmailChanged>(changes.Enqueue);
}

public static class ChangeRecorders
{
    /// <summary>Subscribed before it returns, so that no change published afterwards is missed.</summary>
    public static IActorRef Start(ActorSystem system, ConcurrentQueue<EmailChanged> changes)
    {
        var recorder = system.ActorOf(Akka.Actor.Props.Create(() => new ChangeRecorder(changes)));
        system.EventStream.Subscribe(recorder, typeof(EmailChanged));
        return recorder;
    }
}

public static class Settings
{
    public static AkkaMailSettings Fast(TimeSpan? passivation = null, int snapshotEvery = 1000) => new()
    {
        Retry = T.Policy,
        PassivationTimeout = passivation ?? TimeSpan.FromMinutes(5),
        SnapshotEvery = snapshotEvery,
        AskTimeout = TimeSpan.FromSeconds(5),
        SendParallelism = 4,
        ProviderRatePerSecond = 1000,
        ProviderRateBurst = 1000,
    };
}

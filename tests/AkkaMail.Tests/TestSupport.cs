using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using AkkaMail.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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

    /// <summary>The actor tests' settings; serialization is the service's own (<see cref="TestActorSystems"/>).</summary>
    public const string Hocon = """
        akka.loglevel = WARNING
        # The machine is shared: waits are generous, and only the failing case ever waits them out.
        akka.test.single-expect-default = 10s
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """;
}

/// <summary>
/// Actor systems for the actor tests, built by Akka.Hosting with the serialization the service registers
/// (<see cref="AkkaMailHosting.WithEmailSerialization"/>): whatever a test persists or snapshots goes through the
/// production bindings, not a copy of them.
/// </summary>
public static class TestActorSystems
{
    public static ActorSystem Create(string hocon) => Create(ConfigurationFactory.ParseString(hocon));

    public static ActorSystem Create(Config config)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, NoHostLifetime>();
        services.AddAkka($"test-{Guid.NewGuid():N}", builder => builder
            .AddHocon(config, HoconAddMode.Prepend)
            .ConfigureLoggers(loggers => loggers.LogLevel = Akka.Event.LogLevel.WarningLevel)
            .WithEmailSerialization());
        var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
            hosted.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return provider.GetRequiredService<ActorSystem>();
    }

    private sealed class NoHostLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() { }
    }
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

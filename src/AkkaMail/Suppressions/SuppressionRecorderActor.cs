using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using AkkaMail.Domain;
using Microsoft.Extensions.DependencyInjection;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Suppressions;

/// <summary>
/// Listens to persisted email changes and adds a recipient to its sender's suppression list when the provider
/// reports a permanent failure, a complaint or an unsubscribe.
/// </summary>
public sealed class SuppressionRecorderActor : ReceiveActor
{
    public const string Name = "suppression-recorder";
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public SuppressionRecorderActor(ISuppressionStore store)
    {
        // Most provider events (delivered, opened, clicked...) concern no suppression: those are dropped here,
        // synchronously, instead of each going through the async handler's suspend-and-resume of the mailbox.
        Receive<EmailChanged>(changed => SuppressionReason(changed) is null, _ => { });
        ReceiveAsync<EmailChanged>(async changed =>
        {
            var pe = ((EmailEvents.ProviderEventRecorded)changed.Event).Event;
            var reason = SuppressionReason(changed)!;
            try
            {
                await store.AddAsync(changed.UserId, new Suppression(pe.Recipient, reason, pe.OccurredAt, changed.EmailId));
                _log.Info("Email {EmailId}: {Recipient} suppressed for its sender ({Reason})", changed.EmailId, pe.Recipient, reason);
            }
            catch (Exception ex)
            {
                _log.Error(ex, "Email {EmailId}: could not record suppression of {Recipient}", changed.EmailId, pe.Recipient);
            }
        });
    }

    /// <summary>Why this change suppresses its recipient, or null if it does not.</summary>
    private static string? SuppressionReason(EmailChanged changed)
    {
        if (changed.Event is not EmailEvents.ProviderEventRecorded { Event: var pe } || string.IsNullOrEmpty(changed.UserId))
            return null;
        return pe.Kind switch
        {
            ProviderEventKind.PermanentFailure => "bounce" + (pe.Reason is { Length: > 0 } r ? $" ({r})" : ""),
            ProviderEventKind.Complained => "complaint",
            ProviderEventKind.Unsubscribed => "unsubscribe",
            _ => null,
        };
    }

    // Provider events only (their own type on the event stream): accepted, dispatched, sent... never reach this actor.
    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(EmailProviderEventChanged));
}

public static class SuppressionHosting
{
    /// <summary>Suppression lists follow provider events: one recorder subscribed to email changes.</summary>
    public static AkkaConfigurationBuilder WithSuppressionRecorder(this AkkaConfigurationBuilder builder, IServiceProvider sp)
    {
        var store = sp.GetRequiredService<ISuppressionStore>();
        return builder.WithActors((system, registry, _) =>
            registry.Register<SuppressionRecorderActor>(system.ActorOf(Props.Create(() => new SuppressionRecorderActor(store)),
                SuppressionRecorderActor.Name)));
    }
}

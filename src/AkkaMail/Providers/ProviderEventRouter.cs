using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.ReadModel;

namespace AkkaMail.Providers;

/// <summary>Finds the email a provider event is about and hands the event to its actor.</summary>
public sealed class ProviderEventRouter(IRequiredActor<EmailManagerActor> manager, IEmailReadStore store, AkkaMailSettings settings)
    : IProviderEventIngress
{
    public async Task<EmailReplies.ProviderEventResult> RouteAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default)
    {
        emailId ??= evt.ProviderMessageId is { } pmid ? await store.FindIdByProviderMessageIdAsync(pmid, ct) : null;
        if (emailId is null) return EmailReplies.ProviderEventResult.UnknownEmail;
        var actor = await manager.GetAsync(ct);
        var reply = await actor.Ask<object>(new EmailCommands.ApplyProviderEvent(emailId, evt), settings.AskTimeout, ct);
        return reply is EmailReplies.ProviderEventApplied a ? a.Result : EmailReplies.ProviderEventResult.UnknownEmail;
    }
}

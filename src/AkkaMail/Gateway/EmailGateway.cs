using Microsoft.Extensions.DependencyInjection.Extensions;
using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Actors;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Gateway;

/// <summary>
/// <see cref="IEmailGateway"/> over the <see cref="EmailManagerActor"/>. The manager is looked up in Akka.Hosting's
/// actor registry at each call, never at construction: the sandbox provider holds this gateway, and the pipeline needs
/// the provider to start, so building the gateway must not need a running actor system. Every ask (and the wait for the
/// manager to be registered) is bounded by <see cref="AkkaMailSettings.AskTimeout"/>; past it the answer is
/// <c>Unavailable</c>.
/// </summary>
public sealed class EmailGateway(IServiceProvider services, IEmailReadStore readStore, AkkaMailSettings settings, ILogger<EmailGateway> log)
    : IEmailGateway
{
    public async Task<AcceptResult> AcceptAsync(EmailSubmission s, CancellationToken ct = default)
    {
        var reply = await AskAsync<R.AcceptReply>(new EmailCommands.AcceptEmail(
            s.EmailId, s.UserId, s.Content, s.IdempotencyKey, s.RequestFingerprint, s.SendAt, s.Suppressed, s.Template), ct);
        return reply switch
        {
            null => new AcceptResult.Unavailable(s.EmailId),
            R.EmailAccepted a => new AcceptResult.Accepted(a.EmailId, a.Status, a.Existing),
            R.IdempotencyConflict c => new AcceptResult.IdempotencyConflict(c.EmailId),
            _ => throw Unexpected(reply),
        };
    }

    public async Task<CancelResult> CancelAsync(string emailId, CancellationToken ct = default)
    {
        var reply = await AskAsync<R.CancelReply>(new EmailCommands.CancelEmail(emailId), ct);
        return reply switch
        {
            null => new CancelResult.Unavailable(emailId),
            R.Cancelled => new CancelResult.Cancelled(emailId),
            R.CannotCancel c => new CancelResult.CannotCancel(emailId, c.Status),
            R.UnknownEmail => new CancelResult.Unknown(emailId),
            _ => throw Unexpected(reply),
        };
    }

    public async Task<ProviderEventResult> ApplyProviderEventAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default)
    {
        if (emailId is null && evt.ProviderMessageId is { } messageId)
        {
            try
            {
                emailId = await readStore.FindIdByProviderMessageIdAsync(messageId, ct);
            }
            catch (ReadModelBehindException e)
            {
                return new ProviderEventResult.Unavailable(e.Message);
            }
        }
        if (emailId is null) return ProviderEventResult.Unknown;
        var reply = await AskAsync<R.ProviderEventApplied>(new EmailCommands.ApplyProviderEvent(emailId, evt), ct);
        return reply?.Result switch
        {
            null => new ProviderEventResult.Unavailable($"email {emailId} did not answer within {settings.AskTimeout}"),
            R.ProviderEventResult.Applied => new ProviderEventResult.Applied(emailId),
            R.ProviderEventResult.Duplicate => new ProviderEventResult.Duplicate(emailId),
            R.ProviderEventResult.MessageIdMismatch => new ProviderEventResult.MessageIdMismatch(emailId),
            R.ProviderEventResult.OtherProvider => new ProviderEventResult.OtherProvider(emailId),
            R.ProviderEventResult.UnknownEmail => ProviderEventResult.Unknown,
            _ => throw Unexpected(reply),
        };
    }

    public async Task<EmailStateResult> GetStateAsync(string emailId, CancellationToken ct = default)
    {
        var state = await AskAsync<EmailState>(new EmailCommands.GetEmailState(emailId), ct);
        return state switch
        {
            null => new EmailStateResult.Unavailable(emailId),
            { Exists: true } => new EmailStateResult.Found(state),
            _ => new EmailStateResult.Unknown(emailId),
        };
    }

    /// <summary>
    /// The reply, or null when none came within the ask timeout. The command is sent again (up to three times, a third
    /// of the timeout apart) when no reply came: every command the gateway sends is idempotent (an accept by its id and
    /// fingerprint, a provider event by its id, a cancel, a read), and in cluster mode a message that reached a shard
    /// while it was being handed to another node is dropped, not moved. A cancelled request still throws.
    /// </summary>
    private async Task<TReply?> AskAsync<TReply>(IEmailCommand command, CancellationToken ct) where TReply : class
    {
        var deadline = DateTime.UtcNow + settings.AskTimeout;
        var attempt = settings.AskTimeout / 3;
        try
        {
            var manager = await services.GetRequiredService<IRequiredActor<EmailManagerActor>>().GetAsync(ct)
                .WaitAsync(settings.AskTimeout, ct);
            while (true)
            {
                var left = deadline - DateTime.UtcNow;
                try
                {
                    return await manager.Ask<TReply>(command, left < attempt * 1.5 ? left : attempt, ct);
                }
                catch (AskTimeoutException) when (!ct.IsCancellationRequested && deadline - DateTime.UtcNow > TimeSpan.FromMilliseconds(100))
                {
                    log.LogDebug("Email {EmailId}: no answer to {Command} yet; sending it again", command.EmailId, command.GetType().Name);
                }
            }
        }
        catch (Exception e) when (e is AskTimeoutException or TimeoutException && !ct.IsCancellationRequested)
        {
            log.LogWarning("Email {EmailId}: no answer to {Command} within {Timeout}", command.EmailId, command.GetType().Name, settings.AskTimeout);
            return null;
        }
    }

    private static InvalidOperationException Unexpected(object? reply) =>
        new($"Unexpected reply from an email actor: {reply?.GetType().Name ?? "null"}");
}

public static class EmailGatewayRegistration
{
    /// <summary>Registers <see cref="IEmailGateway"/>; it needs the read store and the settings, and (at call time) the
    /// email manager in Akka.Hosting's actor registry. Registered once however often it is asked for (by each part that uses it).</summary>
    public static IServiceCollection AddEmailGateway(this IServiceCollection services)
    {
        services.TryAddSingleton<IEmailGateway>(sp => new EmailGateway(sp, sp.GetRequiredService<IEmailReadStore>(),
            sp.GetService<AkkaMailSettings>() ?? new AkkaMailSettings(), sp.GetRequiredService<ILogger<EmailGateway>>()));
        services.TryAddSingleton<IEmailContentReader>(sp => new JournalEmailContentReader(sp));
        return services;
    }
}

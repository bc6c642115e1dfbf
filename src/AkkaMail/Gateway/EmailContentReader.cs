using Akka.Actor;
using AkkaMail.Domain;
using AkkaMail.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace AkkaMail.Gateway;

/// <summary>The message as accepted (subject, bodies, attachments), for a preview. An email actor drops its bodies once
/// the email settles, so they are read from where they stay until retention: the journal's <see cref="EmailEvents.EmailAccepted"/>.</summary>
public interface IEmailContentReader
{
    Task<EmailContentResult> ReadAsync(string emailId, CancellationToken ct = default);
}

public abstract record EmailContentResult(string EmailId)
{
    public sealed record Accepted(string EmailId, EmailContent Content) : EmailContentResult(EmailId);

    /// <summary>No acceptance event: the email does not exist, or retention compacted its journal (bodies removed).</summary>
    public sealed record NotInJournal(string EmailId) : EmailContentResult(EmailId);
}

/// <summary>Reads the email's first journal event (one query by persistence id, on whichever journal the service runs).</summary>
public sealed class JournalEmailContentReader(IServiceProvider services) : IEmailContentReader
{
    private JournalQueries? _journal;

    public async Task<EmailContentResult> ReadAsync(string emailId, CancellationToken ct = default)
    {
        _journal ??= JournalQueries.For(services.GetRequiredService<ActorSystem>(), services.GetRequiredService<AkkaMailOptions>().Store);
        return await _journal.FirstEventAsync(Actors.EmailActor.PersistenceIdFor(emailId), ct) is EmailEvents.EmailAccepted accepted
            ? new EmailContentResult.Accepted(emailId, accepted.Content)
            : new EmailContentResult.NotInJournal(emailId);
    }
}

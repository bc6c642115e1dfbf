using AkkaMail.Domain;

namespace AkkaMail.Providers;

/// <summary>The message handed to a provider for one send attempt.</summary>
public sealed record OutgoingEmail(string EmailId, int Attempt, EmailContent Content);

/// <summary>An email service provider (Mailgun, or the sandbox). Never throws for provider failures: it
/// classifies them as transient or permanent.</summary>
public interface IEmailProvider
{
    string Name { get; }
    Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct);
}

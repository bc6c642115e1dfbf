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

/// <summary>A provider that can tell whether it accepted a message of an email before (Mailgun, through its events):
/// asked before a retry goes out through another provider, so that an attempt whose answer was lost is not sent twice.</summary>
public interface IAcceptanceLookup
{
    /// <summary>The provider's message id of an accepted message carrying this email's id; null when there is none, or
    /// when the provider could not be asked.</summary>
    Task<string?> FindAcceptedAsync(OutgoingEmail email, CancellationToken ct);
}

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

/// <summary>Where the provider's reports about recipients enter the service: webhooks and the sandbox both
/// come through here, so both take the same path to the email actor.</summary>
public interface IProviderEventIngress
{
    /// <param name="emailId">Our id when the provider echoed it back; else found by provider message id.</param>
    Task<EmailReplies.ProviderEventResult> RouteAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default);
}

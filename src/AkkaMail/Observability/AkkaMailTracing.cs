using System.Diagnostics;

namespace AkkaMail.Observability;

/// <summary>
/// The service's own spans (activity source "AkkaMail"): one per send attempt, a child of nothing (the attempt runs in
/// the sender stream, long after the POST that accepted the email) and the parent of the provider's HTTP call. Tagged with
/// the email id and attempt so that a trace backend finds every attempt of an email. Without a listener (no exporter
/// configured) <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null and costs nothing.
/// </summary>
public static class AkkaMailTracing
{
    public const string SourceName = "AkkaMail";
    public static readonly ActivitySource Source = new(SourceName, "1.0");

    public const string EmailIdTag = "akkamail.email.id";
    public const string AttemptTag = "akkamail.send.attempt";
    public const string ProviderTag = "akkamail.provider";
    public const string OutcomeTag = "akkamail.send.outcome";
    public const string ProviderMessageIdTag = "akkamail.provider.message_id";
}

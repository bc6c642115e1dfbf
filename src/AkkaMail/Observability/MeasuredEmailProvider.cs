using AkkaMail.Domain;
using AkkaMail.Providers;

namespace AkkaMail.Observability;

/// <summary>Wraps the configured provider to measure each call (latency histogram, in-flight gauge).</summary>
public sealed class MeasuredEmailProvider(IEmailProvider inner) : IEmailProvider
{
    public string Name => inner.Name;

    public Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct) =>
        AkkaMailMetrics.MeasureProviderCallAsync(inner.Name, () => inner.SendAsync(email, ct), o => o switch
        {
            SendOutcome.Sent => "sent",
            SendOutcome.Transient => "transient",
            SendOutcome.Permanent => "permanent",
            _ => "other",
        });
}

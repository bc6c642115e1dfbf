using System.Diagnostics;
using AkkaMail.Domain;
using AkkaMail.Providers;

namespace AkkaMail.Observability;

/// <summary>
/// Every provider call, i.e. every send attempt: timed into the latency histogram and the in-flight gauge, and traced as a
/// span tagged with the email id, the attempt and what became of it (the provider's HTTP call is its child).
/// </summary>
public sealed class MeasuredEmailProvider(IEmailProvider inner, AkkaMailMetrics? metrics = null) : IEmailProvider
{
    public string Name => inner.Name;

    /// <summary>The provider measured.</summary>
    public IEmailProvider Inner => inner;

    public async Task<SendOutcome> SendAsync(OutgoingEmail email, CancellationToken ct)
    {
        using var activity = AkkaMailTracing.Source.StartActivity("send attempt");
        activity?.SetTag(AkkaMailTracing.EmailIdTag, email.EmailId);
        activity?.SetTag(AkkaMailTracing.AttemptTag, email.Attempt);
        activity?.SetTag(AkkaMailTracing.ProviderTag, inner.Name);
        try
        {
            var outcome = metrics is null ? await inner.SendAsync(email, ct)
                : await metrics.MeasureProviderCallAsync(inner.Name, () => inner.SendAsync(email, ct), OutcomeName);
            if (activity is not null) Describe(activity, outcome);
            return outcome;
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetTag(AkkaMailTracing.OutcomeTag, "exception");
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            activity.AddException(e);
            throw;
        }
    }

    private static string OutcomeName(SendOutcome outcome) => outcome switch
    {
        SendOutcome.Sent => "sent",
        SendOutcome.Transient => "transient",
        SendOutcome.Permanent => "permanent",
        _ => "other",
    };

    private static void Describe(Activity activity, SendOutcome outcome)
    {
        activity.SetTag(AkkaMailTracing.OutcomeTag, OutcomeName(outcome));
        switch (outcome)
        {
            case SendOutcome.Sent s:
                activity.SetTag(AkkaMailTracing.ProviderMessageIdTag, s.ProviderMessageId);
                activity.SetStatus(ActivityStatusCode.Ok);
                break;
            case SendOutcome.Transient t:
                activity.SetStatus(ActivityStatusCode.Error, t.Reason);
                break;
            case SendOutcome.Permanent p:
                activity.SetStatus(ActivityStatusCode.Error, p.Reason);
                break;
        }
    }
}

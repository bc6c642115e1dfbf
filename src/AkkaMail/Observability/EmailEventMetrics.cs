using AkkaMail.Domain;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Observability;

/// <summary>
/// Counts persisted email events, called by the email actor once an event is persisted, so the counters follow the
/// journal, not intentions. A counter increment is thread-safe, so it needs no actor and no message of its own.
/// </summary>
public static class EmailEventMetrics
{
    public static void Record(IEmailEvent evt)
    {
        switch (evt)
        {
            case EmailAccepted:
                AkkaMailMetrics.EmailsAccepted.Add(1);
                break;
            case EmailDispatched:
                AkkaMailMetrics.EmailsDispatched.Add(1);
                break;
            case EmailSent:
                AkkaMailMetrics.EmailsSent.Add(1);
                break;
            case SendRetryScheduled:
                AkkaMailMetrics.Retries.Add(1);
                break;
            case EmailSendFailed f:
                AkkaMailMetrics.EmailsFailed.Add(1, new KeyValuePair<string, object?>("reason", f.KindOf().ToWire()));
                break;
            case ProviderEventRecorded p:
                AkkaMailMetrics.ProviderEvents.Add(1, new KeyValuePair<string, object?>("type", p.Event.Kind.ToWire()));
                if (p.Event.Kind == ProviderEventKind.Delivered) AkkaMailMetrics.RecipientsDelivered.Add(1);
                if (p.Event.Kind == ProviderEventKind.PermanentFailure)
                    AkkaMailMetrics.RecipientsFailed.Add(1, new KeyValuePair<string, object?>("reason", p.Event.Reason ?? "unknown"));
                break;
        }
    }
}

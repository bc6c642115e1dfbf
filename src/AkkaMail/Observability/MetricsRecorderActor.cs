using Akka.Actor;
using Akka.Hosting;
using AkkaMail.Domain;
using static AkkaMail.Actors.PipelineMessages;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Observability;

/// <summary>Counts persisted email events (from the event stream), so the counters follow the journal, not intentions.</summary>
public sealed class MetricsRecorderActor : ReceiveActor
{
    public const string Name = "metrics-recorder";

    public MetricsRecorderActor()
    {
        Receive<EmailChanged>(c =>
        {
            switch (c.Event)
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
                    AkkaMailMetrics.EmailsFailed.Add(1, new KeyValuePair<string, object?>("reason", FailureReason(f.Reason)));
                    break;
                case ProviderEventRecorded p:
                    AkkaMailMetrics.ProviderEvents.Add(1, new KeyValuePair<string, object?>("type", p.Event.Kind.ToWire()));
                    if (p.Event.Kind == ProviderEventKind.Delivered) AkkaMailMetrics.RecipientsDelivered.Add(1);
                    if (p.Event.Kind == ProviderEventKind.PermanentFailure)
                        AkkaMailMetrics.RecipientsFailed.Add(1, new KeyValuePair<string, object?>("reason", p.Event.Reason ?? "unknown"));
                    break;
            }
        });
    }

    /// <summary>A small, bounded set of label values (the reason text itself is unbounded).</summary>
    private static string FailureReason(string reason) =>
        reason.StartsWith("gave up after", StringComparison.Ordinal) ? "attempts_exhausted"
        : reason.Contains("suppression", StringComparison.Ordinal) ? "suppressed"
        : "rejected";

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(EmailChanged));
}

public static class MetricsHosting
{
    public static AkkaConfigurationBuilder WithMetricsRecorder(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, registry, _) =>
            registry.Register<MetricsRecorderActor>(system.ActorOf(Props.Create(() => new MetricsRecorderActor()), MetricsRecorderActor.Name)));
}

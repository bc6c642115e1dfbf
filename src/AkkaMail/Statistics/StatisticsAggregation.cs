using System.Security.Cryptography;
using System.Text;
using AkkaMail.Domain;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Statistics;

/// <summary>
/// Turns a batch of journal events into statistics increments, as a pure function of the events, the facts stored for
/// their emails and the uniqueness keys already stored. Each event is counted in the bucket of the moment the service
/// recorded it (<see cref="IEmailEvent.At"/>), in minute, hour and day rows, for its email's user, for all tags ("") and
/// for each of its tags. Provider latency: from a send attempt's start to the provider accepting it (<see cref="EmailSent"/>),
/// in hour and day histograms. Events of an email without facts (accepted before the journal's retained history) are
/// not counted.
/// </summary>
public static class StatisticsAggregation
{
    private static readonly StatsBucket[] CountBuckets = { StatsBucket.Minute, StatsBucket.Hour, StatsBucket.Day };
    private static readonly StatsBucket[] LatencyBuckets = { StatsBucket.Hour, StatsBucket.Day };

    /// <summary>The emails whose stored facts the batch needs (those not accepted in it).</summary>
    public static IReadOnlyCollection<string> EmailsToLoad(IEnumerable<IEmailEvent> events)
    {
        var accepted = new HashSet<string>(StringComparer.Ordinal);
        var needed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e is EmailAccepted) accepted.Add(e.EmailId);
            else if (!accepted.Contains(e.EmailId)) needed.Add(e.EmailId);
        }
        return needed;
    }

    /// <summary>The uniqueness keys the batch's events could set, to look up before aggregating.</summary>
    public static IReadOnlyCollection<string> KeysToCheck(IEnumerable<IEmailEvent> events)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
            if (e is ProviderEventRecorded p && UniqueCounter(p.Event.Kind) is not null)
                keys.Add(UniquenessKey(e.EmailId, p.Event.Kind, p.Event.Recipient));
        return keys;
    }

    /// <summary>
    /// The key that makes a count unique per email, recipient and kind. The address is hashed (SHA-256, 16 bytes kept):
    /// statistics hold no addresses, so erasure has nothing to remove from them.
    /// </summary>
    public static string UniquenessKey(string emailId, ProviderEventKind kind, string recipient)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Addresses.Normalize(recipient)));
        return $"{emailId}|{(int)kind}|{Convert.ToBase64String(hash, 0, 16)}";
    }

    private static StatsCounter? UniqueCounter(ProviderEventKind kind) => kind switch
    {
        ProviderEventKind.Delivered => StatsCounter.Delivered,
        ProviderEventKind.PermanentFailure => StatsCounter.Bounced,
        ProviderEventKind.Opened => StatsCounter.Opened,
        ProviderEventKind.Clicked => StatsCounter.Clicked,
        ProviderEventKind.Complained => StatsCounter.Complained,
        ProviderEventKind.Unsubscribed => StatsCounter.Unsubscribed,
        _ => null,
    };

    public static StatisticsBatch Aggregate(IEnumerable<IEmailEvent> events, IReadOnlyDictionary<string, EmailFacts> storedFacts,
        IReadOnlySet<string> seenBefore)
    {
        var counts = new Dictionary<StatsRowKey, long[]>();
        var latency = new Dictionary<LatencyCellKey, long>();
        var facts = new Dictionary<string, EmailFacts>(StringComparer.Ordinal);
        var firstSeen = new List<string>();
        var seen = new HashSet<string>(seenBefore, StringComparer.Ordinal);

        EmailFacts? FactsOf(string id) => facts.TryGetValue(id, out var f) ? f : storedFacts.GetValueOrDefault(id);

        void Count(EmailFacts f, DateTimeOffset at, StatsCounter counter, long n)
        {
            if (n == 0) return;
            foreach (var bucket in CountBuckets)
            {
                var start = StatsBuckets.StartOf(bucket, at);
                Add(new StatsRowKey(bucket, start, f.UserId, ""));
                foreach (var tag in f.Tags) Add(new StatsRowKey(bucket, start, f.UserId, tag));
            }
            void Add(StatsRowKey key)
            {
                if (!counts.TryGetValue(key, out var row)) counts[key] = row = new long[StatsCounters.Count];
                row[(int)counter] += n;
            }
        }

        void Latency(EmailFacts f, DateTimeOffset at, TimeSpan took)
        {
            var bin = LatencyBins.Of(took);
            foreach (var bucket in LatencyBuckets)
            {
                var start = StatsBuckets.StartOf(bucket, at);
                Add(new LatencyCellKey(bucket, start, f.UserId, "", bin));
                foreach (var tag in f.Tags) Add(new LatencyCellKey(bucket, start, f.UserId, tag, bin));
            }
            void Add(LatencyCellKey key) => latency[key] = latency.GetValueOrDefault(key) + 1;
        }

        foreach (var evt in events)
        {
            if (evt is EmailAccepted a)
            {
                // An email is accepted once; its facts existing already means this event was counted.
                if (FactsOf(a.EmailId) is not null) continue;
                var all = a.Content.AllRecipients();
                var suppressed = a.Suppressed is null ? 0 : all.Count(a.Suppressed.ContainsKey);
                var tags = a.Content.Tags.Distinct(StringComparer.Ordinal).Where(t => t.Length > 0).ToArray();
                var f = new EmailFacts(a.EmailId, a.UserId, tags, all.Count - suppressed, null, false);
                facts[a.EmailId] = f;
                Count(f, a.At, StatsCounter.Accepted, 1);
                Count(f, a.At, StatsCounter.Suppressed, suppressed);
                continue;
            }
            if (FactsOf(evt.EmailId) is not { } known) continue;
            switch (evt)
            {
                case SendAttemptStarted s:
                    facts[s.EmailId] = known with { AttemptStartedAt = s.At };
                    break;
                case EmailSent s when !known.Sent:
                    facts[s.EmailId] = known with { Sent = true };
                    Count(known, s.At, StatsCounter.Sent, known.Recipients);
                    if (known.AttemptStartedAt is { } started && s.At >= started) Latency(known, s.At, s.At - started);
                    break;
                case SendRetryScheduled r:
                    Count(known, r.At, StatsCounter.Deferred, known.Recipients);
                    break;
                case EmailSendFailed x:
                    Count(known, x.At, StatsCounter.Failed, known.Recipients);
                    break;
                case ProviderEventRecorded { Event: var pe } p:
                    if (pe.Kind == ProviderEventKind.TemporaryFailure)
                    {
                        Count(known, p.At, StatsCounter.Deferred, 1);
                        break;
                    }
                    if (UniqueCounter(pe.Kind) is not { } counter) break;
                    var key = UniquenessKey(p.EmailId, pe.Kind, pe.Recipient);
                    if (!seen.Add(key)) break;
                    firstSeen.Add(key);
                    Count(known, p.At, counter, 1);
                    if (counter == StatsCounter.Bounced) Count(known, p.At, StatsCounter.Failed, 1);
                    break;
            }
        }
        return new StatisticsBatch(counts, latency, facts.Values.ToArray(), firstSeen);
    }
}

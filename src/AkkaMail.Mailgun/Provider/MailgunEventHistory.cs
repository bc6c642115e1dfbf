using AkkaMail.Domain;
using AkkaMail.Providers;
using Microsoft.Extensions.Logging;

namespace AkkaMail.Mailgun.Provider;

/// <summary>
/// Mailgun's events API as a provider event history: every event whose message carried <c>v:email-id</c> = the email's
/// id, mapped by <see cref="MailgunEventMapper"/> exactly as a webhook's event is, so an event keeps its Mailgun id
/// whichever way it arrives and is applied once. Events of types we do not track, unusable ones and events naming another
/// email are left out.
/// </summary>
public sealed class MailgunEventHistory(MailgunClient client, ILogger<MailgunEventHistory> log) : IProviderEventHistory
{
    /// <summary>When no wait is given with a 420 or 429, this one.</summary>
    public static readonly TimeSpan DefaultRateLimitWait = TimeSpan.FromMinutes(1);

    public string Provider => MailgunProvider.ProviderName;

    public async Task<ProviderHistory> FindEventsAsync(string emailId, DateTimeOffset since, CancellationToken ct)
    {
        switch (await client.FindEventsAsync(MailgunProvider.EmailIdVariable, emailId, since, ct))
        {
            case MailgunEventSearch.Failed { IsRateLimited: true } limited:
                return new ProviderHistory.RateLimited(limited.RetryAfter ?? DefaultRateLimitWait, $"mailgun {limited.StatusCode}: {limited.Reason}");
            case MailgunEventSearch.Failed failed:
                return new ProviderHistory.Unavailable(failed.StatusCode is { } s ? $"mailgun {s}: {failed.Reason}" : "mailgun: " + failed.Reason);
            case MailgunEventSearch.Found found:
                if (found.Unreadable > 0)
                    log.LogWarning("Email {EmailId}: {Count} items of Mailgun's events were not readable events", emailId, found.Unreadable);
                var events = new List<ProviderEvent>(found.Events.Count);
                foreach (var e in found.Events)
                    if (MailgunEventMapper.Map(e) is MailgunEventMapper.Mapping.Tracked t && (t.EmailId is null || t.EmailId == emailId))
                        events.Add(t.Event);
                return new ProviderHistory.Found(events);
            default:
                return new ProviderHistory.Unavailable("mailgun: unexpected answer");
        }
    }
}

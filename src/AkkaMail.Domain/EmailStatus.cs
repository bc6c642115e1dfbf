namespace AkkaMail.Domain;

/// <summary>
/// The aggregate status of an email, as clients see it (lower-case, snake_case in JSON).
/// See <see cref="EmailState.Status"/> for the rule that derives it.
/// </summary>
public enum EmailStatus
{
    /// <summary>Accepted by us, waiting for its turn in the send queue.</summary>
    Queued,
    /// <summary>Held until its sendAt time.</summary>
    Scheduled,
    /// <summary>A send attempt to the provider is in progress.</summary>
    Sending,
    /// <summary>The provider refused transiently; another attempt is scheduled.</summary>
    Retrying,
    /// <summary>The provider accepted the message; no recipient's fate is final yet.</summary>
    Sent,
    /// <summary>Every recipient's mailbox accepted the message.</summary>
    Delivered,
    /// <summary>Delivered to every recipient and at least one opened it.</summary>
    Opened,
    /// <summary>Delivered to every recipient and at least one clicked a link.</summary>
    Clicked,
    /// <summary>Some recipients have it, some failed permanently.</summary>
    PartiallyFailed,
    /// <summary>The provider refused it for good, attempts ran out, or every recipient failed permanently.</summary>
    Failed,
    /// <summary>Cancelled by the client before it was handed to the provider.</summary>
    Cancelled,
}

/// <summary>A single recipient's delivery fate. The order is the rank: a fate never moves to a lower rank.</summary>
public enum RecipientStatus
{
    Pending = 0,
    Accepted = 1,
    Deferred = 2,
    Delivered = 3,
    /// <summary>Permanent failure (bounce, suppression...). Final: outranks delivered, since a delayed bounce
    /// arrives after the receiving server first said yes.</summary>
    Failed = 4,
    /// <summary>On the sender's suppression list when the email was accepted: never sent to. Final.</summary>
    Suppressed = 5,
}

public static class StatusNames
{
    public static string ToWire(this EmailStatus s) => s switch
    {
        EmailStatus.PartiallyFailed => "partially_failed",
        _ => s.ToString().ToLowerInvariant(),
    };

    public static string ToWire(this RecipientStatus s) => s.ToString().ToLowerInvariant();

    public static bool TryParseEmailStatus(string? s, out EmailStatus status)
    {
        status = default;
        if (string.IsNullOrWhiteSpace(s)) return false;
        return Enum.TryParse(s.Replace("_", ""), ignoreCase: true, out status) && Enum.IsDefined(status);
    }
}

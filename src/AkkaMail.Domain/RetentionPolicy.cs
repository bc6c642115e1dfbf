namespace AkkaMail.Domain;

/// <summary>What retention does to one email now.</summary>
public enum RetentionStep
{
    /// <summary>Nothing: not settled, not old enough, or already done.</summary>
    Keep,
    /// <summary>Replace the journal's events (the accepted event holds bodies and attachments) by a snapshot of the
    /// settled state, which holds only the envelope and the timeline.</summary>
    RemoveBodies,
    /// <summary>Remove the email everywhere: events, snapshots, read model, outbox.</summary>
    RemoveEmail,
}

/// <summary>
/// How long a settled email's parts are kept: bodies and attachments <see cref="KeepBodies"/> after it settled, the
/// envelope and timeline <see cref="KeepEnvelopes"/> after it settled (or after its last change, whichever is later for
/// the envelope). An unsettled email (queued, scheduled, sending, retrying) is never touched, whatever its age.
/// <see cref="Timeout.InfiniteTimeSpan"/> keeps that part forever.
/// </summary>
public sealed record RetentionPolicy(TimeSpan KeepBodies, TimeSpan KeepEnvelopes)
{
    public static readonly RetentionPolicy Forever = new(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    /// <summary>Erasure: a settled email is removed whole now (no period), an unsettled one is still kept — the erasure
    /// cancels it and asks again once it settled. The same command and removal as retention's envelopes.</summary>
    public static readonly RetentionPolicy EraseNow = new(Timeout.InfiniteTimeSpan, TimeSpan.Zero);

    public bool RemovesBodies => KeepBodies != Timeout.InfiniteTimeSpan;
    public bool RemovesEnvelopes => KeepEnvelopes != Timeout.InfiniteTimeSpan;

    /// <summary>The step for <paramref name="state"/> at <paramref name="now"/>. Pure.</summary>
    public RetentionStep Decide(EmailState state, DateTimeOffset now)
    {
        if (!state.Exists || !state.IsSettled) return RetentionStep.Keep;
        // A snapshot written before SettledAt existed: its last change is never earlier than its settling.
        var settledAt = state.SettledAt ?? state.UpdatedAt ?? state.AcceptedAt ?? now;
        // A late provider event (an open months later) keeps the envelope it changed for another full period.
        var lastChange = state.UpdatedAt is { } u && u > settledAt ? u : settledAt;
        if (RemovesEnvelopes && now - lastChange >= KeepEnvelopes) return RetentionStep.RemoveEmail;
        if (RemovesBodies && state.BodiesRemovedAt is null && now - settledAt >= KeepBodies) return RetentionStep.RemoveBodies;
        return RetentionStep.Keep;
    }
}

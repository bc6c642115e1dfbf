using Akka.Actor;
using Akka.Persistence;

namespace AkkaMail.Persistence;

/// <summary>
/// The new-id recovery (setting <c>trust-new-id-recovery</c>): a persistent actor whose id was minted just now, so
/// that nothing can have been written under it, recovers with
/// <c>new Recovery(SnapshotSelectionCriteria.None, toSequenceNr: 0, replayMax: 0)</c>, and the journal answers its
/// highest sequence number, 0, without reading the database. Akka's own <see cref="Recovery.None"/> (replay max
/// unbounded) is not such a declaration: it still reads.
/// </summary>
/// <remarks>
/// One source file compiled into both journal plugins (AkkaMail.Persistence.Sqlite and .MongoDb), which stay
/// independent libraries.
/// The plugin API gives <c>ReadHighestSequenceNrAsync</c> the persistence id only, so the recovery's bounds are read
/// from the <see cref="ReplayMessages"/> the journal actor is handling: <c>AsyncWriteJournal</c> calls
/// <c>ReadHighestSequenceNrAsync</c> synchronously from its handler of that message. A call made anywhere else sees
/// another current message and reads the database, so the check can save a read but never answer 0 to a recovery
/// that did not ask for nothing. A wrong declaration fails loudly: the id's first write collides with its existing
/// sequence number 1 on the unique key and is reported as a write failure; nothing is overwritten.
/// </remarks>
internal static class NewIdRecovery
{
    /// <summary>The highest sequence number of a new id, as a completed task.</summary>
    public static readonly Task<long> HighestOfNewId = Task.FromResult(0L);

    /// <summary>Whether the journal actor <paramref name="journal"/> is handling a recovery of
    /// <paramref name="persistenceId"/> that asks for nothing at all.</summary>
    public static bool IsDeclaredNew(ActorCell journal, string persistenceId) =>
        journal.CurrentMessage is ReplayMessages { ToSequenceNr: 0, Max: 0 } replay && replay.PersistenceId == persistenceId;
}

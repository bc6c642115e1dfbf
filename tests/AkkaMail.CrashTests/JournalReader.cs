using Akka.Actor;
using Akka.Configuration;
using AkkaMail.Domain;
using AkkaMail.Serialization;
using Microsoft.Data.Sqlite;

namespace AkkaMail.CrashTests;

/// <summary>
/// Reads the SQLite journal (events.db) of a stopped service and folds each email's events, in sequence_nr order,
/// into the state it recovers to. Events are never deleted (snapshots only shorten recovery), so folding every
/// event is the recovery.
/// </summary>
public static class JournalReader
{
    public sealed record Result(IReadOnlyDictionary<string, EmailState> Emails, int Events, int UnreadableEvents, IReadOnlyList<string> Problems);

    public static Result Fold(string journalFile)
    {
        // The serializer needs an ExtendedActorSystem only for its base class; a bare local one does.
        using var system = ActorSystem.Create("crash-journal-reader", ConfigurationFactory.ParseString(
            "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"));
        var serializer = new EmailEventSerializer((ExtendedActorSystem)system);
        var states = new Dictionary<string, EmailState>(StringComparer.Ordinal);
        var lastSeq = new Dictionary<string, long>(StringComparer.Ordinal);
        var problems = new List<string>();
        int events = 0, unreadable = 0;

        var cs = new SqliteConnectionStringBuilder { DataSource = journalFile, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        using (var connection = new SqliteConnection(cs))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT persistence_id, sequence_nr, manifest, serializer_id, payload FROM journal " +
                                  "WHERE persistence_id LIKE 'email-%' ORDER BY persistence_id, sequence_nr";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var pid = reader.GetString(0);
                var seq = reader.GetInt64(1);
                var manifest = reader.GetString(2);
                var serializerId = reader.GetInt32(3);
                var payload = (byte[])reader[4];
                var id = pid["email-".Length..];
                events++;
                var expected = lastSeq.GetValueOrDefault(pid) + 1;
                if (seq != expected && problems.Count < 20) problems.Add($"{pid}: sequence_nr {seq} follows {expected - 1}");
                lastSeq[pid] = seq;
                if (serializerId != EmailEventSerializer.SerializerId)
                {
                    unreadable++;
                    if (problems.Count < 20) problems.Add($"{pid}#{seq}: serializer {serializerId}, manifest {manifest}");
                    continue;
                }
                object evt;
                try { evt = serializer.FromBinary(payload, manifest); }
                catch (Exception e)
                {
                    unreadable++;
                    if (problems.Count < 20) problems.Add($"{pid}#{seq}: {manifest}: {e.Message}");
                    continue;
                }
                if (evt is not IEmailEvent emailEvent)
                {
                    unreadable++;
                    if (problems.Count < 20) problems.Add($"{pid}#{seq}: {evt.GetType().Name} is not an email event");
                    continue;
                }
                var state = states.TryGetValue(id, out var s) ? s : EmailState.Empty(id);
                states[id] = state.Apply(emailEvent);
            }
        }
        SqliteConnection.ClearAllPools();
        return new Result(states, events, unreadable, problems);
    }
}

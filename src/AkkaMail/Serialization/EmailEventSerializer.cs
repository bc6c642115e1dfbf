using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using AkkaMail.Domain;
using static AkkaMail.Domain.EmailEvents;

namespace AkkaMail.Serialization;

/// <summary>
/// JSON for everything we persist (events and snapshots), with a stable manifest per type, never a CLR type
/// name: renaming or moving a type must not break recovery. A manifest is forever; a new shape gets ".v2".
/// </summary>
public sealed class EmailEventSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4711;

    private static readonly (string Manifest, Type Type)[] Map =
    {
        ("email-accepted.v1", typeof(EmailAccepted)),
        ("email-dispatched.v1", typeof(EmailDispatched)),
        ("send-attempt-started.v1", typeof(SendAttemptStarted)),
        ("email-sent.v1", typeof(EmailSent)),
        ("send-retry-scheduled.v1", typeof(SendRetryScheduled)),
        ("email-send-failed.v1", typeof(EmailSendFailed)),
        ("email-cancelled.v1", typeof(EmailCancelled)),
        ("provider-event-recorded.v1", typeof(ProviderEventRecorded)),
        ("provider-report-missing.v1", typeof(ProviderReportMissing)),
        ("email-state-snapshot.v1", typeof(EmailState)),
    };

    private static readonly Dictionary<Type, string> ManifestByType = Map.ToDictionary(m => m.Type, m => m.Manifest);
    private static readonly Dictionary<string, Type> TypeByManifest = Map.ToDictionary(m => m.Manifest, m => m.Type);

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public EmailEventSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) =>
        ManifestByType.TryGetValue(o.GetType(), out var m) ? m
            : throw new ArgumentException($"{o.GetType()} has no manifest in {nameof(EmailEventSerializer)}");

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Json);

    public override object FromBinary(byte[] bytes, string manifest) =>
        TypeByManifest.TryGetValue(manifest, out var t)
            ? JsonSerializer.Deserialize(bytes, t, Json) ?? throw new SerializationException($"null payload for {manifest}")
            : throw new SerializationException($"unknown manifest {manifest}");

    public static IEnumerable<string> Manifests => Map.Select(m => m.Manifest);

    /// <summary>The manifest of a persisted type.</summary>
    public static string ManifestOf(Type type) =>
        ManifestByType.TryGetValue(type, out var m) ? m : throw new ArgumentException($"{type} has no manifest in {nameof(EmailEventSerializer)}");

    /// <summary>The type of a manifest.</summary>
    public static Type TypeOf(string manifest) =>
        TypeByManifest.TryGetValue(manifest, out var t) ? t : throw new SerializationException($"unknown manifest {manifest}");
}

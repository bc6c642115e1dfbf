using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Serialization;
using AkkaMail.Domain;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Serialization;

/// <summary>
/// JSON for the commands to an email and its replies, which cross nodes in cluster mode (the email's entity lives on
/// one node; the API, the sender and the webhooks run on every node). A stable manifest per type, as for events, so
/// nodes of two versions in a rolling restart still understand each other; never persisted.
/// </summary>
public sealed class EmailMessageSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4712;

    private static readonly (string Manifest, Type Type)[] Map =
    {
        ("accept-email", typeof(AcceptEmail)),
        ("mark-dispatched", typeof(MarkDispatched)),
        ("begin-send-attempt", typeof(BeginSendAttempt)),
        ("record-send-outcome", typeof(RecordSendOutcome)),
        ("apply-provider-event", typeof(ApplyProviderEvent)),
        ("cancel-email", typeof(CancelEmail)),
        ("sweep-dispatch", typeof(SweepDispatch)),
        ("get-email-state", typeof(GetEmailState)),
        ("apply-retention", typeof(ApplyRetention)),
        ("retention-applied", typeof(RetentionApplied)),
        ("mark-no-provider-report", typeof(MarkNoProviderReport)),
        ("no-provider-report-marked", typeof(NoProviderReportMarked)),
        ("email-accepted", typeof(EmailReplies.EmailAccepted)),
        ("idempotency-conflict", typeof(IdempotencyConflict)),
        ("send-approved", typeof(SendApproved)),
        ("send-denied", typeof(SendDenied)),
        ("outcome-recorded", typeof(OutcomeRecorded)),
        ("provider-event-applied", typeof(ProviderEventApplied)),
        ("cancelled", typeof(Cancelled)),
        ("cannot-cancel", typeof(CannotCancel)),
        ("unknown-email", typeof(UnknownEmail)),
        ("email-changed", typeof(Actors.PipelineMessages.EmailChanged)),
        ("read-side-advanced", typeof(ReadModel.ReadSideFollowerActor.Advanced)),
    };

    /// <summary>The types this serializer is bound to (their subtypes included).</summary>
    public static readonly Type[] BoundTypes =
    [
        typeof(IEmailCommand), typeof(AcceptReply), typeof(BeginSendReply), typeof(OutcomeRecorded),
        typeof(ProviderEventApplied), typeof(CancelReply), typeof(RetentionApplied), typeof(NoProviderReportMarked),
        typeof(Actors.PipelineMessages.EmailChanged), typeof(ReadModel.ReadSideFollowerActor.Advanced),
    ];

    /// <summary>The types with a manifest.</summary>
    public static IEnumerable<Type> Types => Map.Select(m => m.Type);

    private static readonly Dictionary<Type, string> ManifestByType = Map.ToDictionary(m => m.Type, m => m.Manifest);
    private static readonly Dictionary<string, Type> TypeByManifest = Map.ToDictionary(m => m.Manifest, m => m.Type);

    private static readonly JsonSerializerOptions Json = new(EmailEventSerializer.Json)
    {
        // The abstract members of messages (an outcome, a denial's reason) carry their case as "kind".
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { Subtypes } },
        Converters = { new EmailEventConverter() },
    };

    public EmailMessageSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) =>
        ManifestByType.TryGetValue(o.GetType(), out var m) ? m
            : throw new ArgumentException($"{o.GetType()} has no manifest in {nameof(EmailMessageSerializer)}");

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Json);

    public override object FromBinary(byte[] bytes, string manifest) =>
        TypeByManifest.TryGetValue(manifest, out var t)
            ? JsonSerializer.Deserialize(bytes, t, Json) ?? throw new SerializationException($"null payload for {manifest}")
            : throw new SerializationException($"unknown manifest {manifest}");

    private static void Subtypes(JsonTypeInfo info)
    {
        if (info.Type == typeof(SendOutcome))
            info.PolymorphismOptions = Cases(
                (typeof(SendOutcome.Sent), "sent"), (typeof(SendOutcome.Transient), "transient"), (typeof(SendOutcome.Permanent), "permanent"));
        else if (info.Type == typeof(DenialReason))
            info.PolymorphismOptions = Cases(
                (typeof(DenialReason.UnknownEmail), "unknown-email"), (typeof(DenialReason.NotYetDue), "not-yet-due"),
                (typeof(DenialReason.AttemptInProgress), "attempt-in-progress"), (typeof(DenialReason.NotCurrent), "not-current"));
    }

    private static JsonPolymorphismOptions Cases(params (Type Type, string Name)[] cases)
    {
        var options = new JsonPolymorphismOptions { TypeDiscriminatorPropertyName = "kind" };
        foreach (var (type, name) in cases) options.DerivedTypes.Add(new JsonDerivedType(type, name));
        return options;
    }

    /// <summary>An event inside a message (a change announced to every node) as its persisted form: manifest and payload.</summary>
    private sealed class EmailEventConverter : JsonConverter<IEmailEvent>
    {
        public override IEmailEvent Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var doc = JsonDocument.ParseValue(ref reader);
            var type = EmailEventSerializer.TypeOf(doc.RootElement.GetProperty("manifest").GetString() ?? "");
            return (IEmailEvent)(doc.RootElement.GetProperty("payload").Deserialize(type, EmailEventSerializer.Json)
                                 ?? throw new SerializationException("null event payload"));
        }

        public override void Write(Utf8JsonWriter writer, IEmailEvent value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WriteString("manifest", EmailEventSerializer.ManifestOf(value.GetType()));
            writer.WritePropertyName("payload");
            JsonSerializer.Serialize(writer, value, value.GetType(), EmailEventSerializer.Json);
            writer.WriteEndObject();
        }
    }
}

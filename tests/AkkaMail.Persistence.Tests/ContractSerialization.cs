using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace AkkaMail.Persistence.Tests;

/// <summary>Marker of the test messages that <see cref="ContractSerializer"/> is bound to.</summary>
public interface IContractMessage;

/// <summary>
/// An event/snapshot serialized by <see cref="ContractSerializer"/> only. <see cref="DecodedBy"/> is set by
/// the serializer when it decodes, so a test can tell that the custom serializer (and its manifest) was used.
/// </summary>
public sealed class ContractEvent(string value) : IContractMessage
{
    public string Value { get; } = value;

    public string? DecodedBy { get; init; }

    public override string ToString() => $"ContractEvent({Value})";
}

/// <summary>A payload whose serializer always throws: stands for a payload that cannot be serialized.</summary>
public sealed record Unserializable(string Value);

/// <summary>Custom serializer with a string manifest, bound to <see cref="IContractMessage"/>.</summary>
public sealed class ContractSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 7401;
    public const string EventManifest = "contract-event.v1";

    public override int Identifier => Id;

    public override string Manifest(object o) => o switch
    {
        ContractEvent => EventManifest,
        _ => throw new ArgumentException($"Cannot serialize {o.GetType()}"),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        ContractEvent e => Encoding.UTF8.GetBytes("v1|" + e.Value),
        _ => throw new ArgumentException($"Cannot serialize {obj.GetType()}"),
    };

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (manifest != EventManifest) throw new ArgumentException($"Unknown manifest '{manifest}'");
        var text = Encoding.UTF8.GetString(bytes);
        if (!text.StartsWith("v1|", StringComparison.Ordinal)) throw new ArgumentException("Not a v1 contract event");
        return new ContractEvent(text[3..]) { DecodedBy = $"{nameof(ContractSerializer)}:{manifest}" };
    }
}

/// <summary>A serializer that refuses everything (bound to <see cref="Unserializable"/>).</summary>
public sealed class FailingSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public override int Identifier => 7402;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new System.Runtime.Serialization.SerializationException($"{obj.GetType().Name} is not serializable");

    public override object FromBinary(byte[] bytes, Type? type) =>
        throw new System.Runtime.Serialization.SerializationException("not deserializable");
}

public static class ContractConfig
{
    private static string TypeName<T>() => $"{typeof(T).FullName}, {typeof(T).Assembly.GetName().Name}";

    /// <summary>Serializer bindings and test timeouts shared by every contract suite.</summary>
    public static Config Common { get; } = ConfigurationFactory.ParseString($$"""
        akka.loglevel = INFO
        akka.test.single-expect-default = 15s
        akka.actor {
          serializers {
            contract = "{{TypeName<ContractSerializer>()}}"
            failing = "{{TypeName<FailingSerializer>()}}"
          }
          serialization-bindings {
            "{{TypeName<IContractMessage>()}}" = contract
            "{{TypeName<Unserializable>()}}" = failing
          }
        }
        """);
}

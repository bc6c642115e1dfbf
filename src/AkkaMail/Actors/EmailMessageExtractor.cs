using Akka.Cluster.Sharding;
using AkkaMail.Domain;

namespace AkkaMail.Actors;

/// <summary>
/// Where a message for an email goes: the entity is the email (<see cref="IWithEmailId.EmailId"/>), its shard a hash of
/// the id. Every node of a cluster must use the same shard count, or the same email would live in two places.
/// </summary>
public sealed class EmailMessageExtractor(int shards) : HashCodeMessageExtractor(shards)
{
    /// <summary>Ten shards per node of the largest cluster foreseen: enough to spread emails, few enough to hand over fast.</summary>
    public const int DefaultShards = 100;

    public override string? EntityId(object message) => (message as IWithEmailId)?.EmailId;
}

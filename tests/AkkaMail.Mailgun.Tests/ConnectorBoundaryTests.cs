using System.Reflection;
using AkkaMail.Mailgun;
using Xunit;

namespace AkkaMail.Mailgun.Tests;

/// <summary>
/// The root of AkkaMail.Mailgun is a connector: Mailgun's API and webhook format, knowing nothing of our emails. Its
/// public and private signatures (fields, properties, methods, constructors) use no AkkaMail type but its own and the
/// core's provider-neutral replay-token store; everything that knows emails lives in <c>Provider/</c>.
/// </summary>
public sealed class ConnectorBoundaryTests
{
    private static readonly HashSet<string> AllowedOutside = ["AkkaMail.Providers.IWebhookTokenStore"];

    [Fact]
    public void Connector_signatures_use_no_email_type()
    {
        var connector = typeof(MailgunClient).Assembly.GetTypes().Where(t => t.Namespace == "AkkaMail.Mailgun").ToList();
        Assert.Contains(connector, t => t == typeof(MailgunWebhookVerifier));
        var offenders = new List<string>();
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in connector)
        {
            var used = type.GetFields(all).Select(f => f.FieldType)
                .Concat(type.GetProperties(all).Select(p => p.PropertyType))
                .Concat(type.GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
                .Concat(type.GetConstructors(all).SelectMany(c => c.GetParameters().Select(p => p.ParameterType)));
            foreach (var t in used.SelectMany(Expand))
                if (t.Namespace is { } ns && ns.StartsWith("AkkaMail", StringComparison.Ordinal) && ns != "AkkaMail.Mailgun"
                    && !AllowedOutside.Contains(t.FullName ?? ""))
                    offenders.Add($"{type.Name} uses {t.FullName}");
        }
        Assert.True(offenders.Count == 0, string.Join(Environment.NewLine, offenders.Distinct()));
    }

    private static IEnumerable<Type> Expand(Type t) =>
        t.HasElementType ? Expand(t.GetElementType()!)
        : t.IsGenericType ? t.GetGenericArguments().SelectMany(Expand).Prepend(t)
        : [t];
}

using System.Reflection;

namespace AkkaMail.Smtp.Tests;

/// <summary>The root of AkkaMail.Smtp is a connector: SMTP submission on MailKit, knowing nothing of our emails. Its
/// signatures use no AkkaMail type but its own; everything that knows emails lives in <c>Provider/</c>.</summary>
public sealed class ConnectorBoundaryTests
{
    [Fact]
    public void Connector_signatures_use_no_email_type()
    {
        var connector = typeof(SmtpSender).Assembly.GetTypes().Where(t => t.Namespace == "AkkaMail.Smtp").ToList();
        Assert.Contains(connector, t => t == typeof(SmtpSender));
        Assert.Contains(typeof(SmtpSender).Assembly.GetTypes(), t => t.Namespace == "AkkaMail.Smtp.Provider");
        var offenders = new List<string>();
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in connector)
        {
            var used = type.GetFields(all).Select(f => f.FieldType)
                .Concat(type.GetProperties(all).Select(p => p.PropertyType))
                .Concat(type.GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
                .Concat(type.GetConstructors(all).SelectMany(c => c.GetParameters().Select(p => p.ParameterType)));
            foreach (var t in used.SelectMany(Expand))
                if (t.Namespace is { } ns && ns.StartsWith("AkkaMail", StringComparison.Ordinal) && ns != "AkkaMail.Smtp")
                    offenders.Add($"{type.Name} uses {t.FullName}");
        }
        Assert.True(offenders.Count == 0, string.Join(Environment.NewLine, offenders.Distinct()));
    }

    private static IEnumerable<Type> Expand(Type t) =>
        t.HasElementType ? Expand(t.GetElementType()!)
        : t.IsGenericType ? t.GetGenericArguments().SelectMany(Expand).Prepend(t)
        : [t];
}

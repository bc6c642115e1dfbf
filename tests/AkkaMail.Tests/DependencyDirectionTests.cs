using Xunit;

namespace AkkaMail.Tests;

/// <summary>The core knows no provider: a provider project depends on the core, never the reverse.</summary>
public sealed class DependencyDirectionTests
{
    [Fact]
    public void The_core_references_no_provider_or_host_assembly()
    {
        var referenced = typeof(AkkaMail.Gateway.IEmailGateway).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains("AkkaMail.Domain", referenced); // the check reads real references
        Assert.DoesNotContain("AkkaMail.Mailgun", referenced);
        Assert.DoesNotContain("AkkaMail.Api", referenced);
    }
}

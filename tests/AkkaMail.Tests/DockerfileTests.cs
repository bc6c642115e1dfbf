using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace AkkaMail.Tests;

/// <summary>Docker cannot run here, so the image's restore step is checked by reading it: it copies the project file of
/// every project the service is built from, or <c>dotnet restore</c> fails inside the image.</summary>
public class DockerfileTests
{
    [Fact]
    public void The_restore_step_copies_every_project_the_service_references()
    {
        var root = NamespaceLayoutTests.RepositoryRoot();
        var copied = Regex.Matches(File.ReadAllText(Path.Combine(root, "Dockerfile")), @"^COPY\s+(\S+\.csproj)\s", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var needed = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.Combine(root, "src", "AkkaMail.Api", "AkkaMail.Api.csproj")]);
        while (pending.TryPop(out var project))
        {
            if (!needed.Add(Path.GetRelativePath(root, project).Replace('\\', '/'))) continue;
            foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, reference.Attribute("Include")!.Value.Replace('\\', '/'))));
        }
        var missing = needed.Where(p => !copied.Contains(p)).ToList();
        Assert.True(missing.Count == 0, "not copied before `dotnet restore`: " + string.Join(", ", missing));
    }
}

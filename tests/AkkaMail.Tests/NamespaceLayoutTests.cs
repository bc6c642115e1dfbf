using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace AkkaMail.Tests;

/// <summary>
/// Every production source file declares the namespace its folder names: the project's root namespace (its
/// RootNamespace, else the project's file name) followed by the folders below the project, so a type is found where
/// its namespace says. Checked on the sources under src/, one project folder at a time; a file outside every project
/// folder (src/Shared, compiled into both persistence plugins through links) has no folder of its own to match.
/// </summary>
public sealed partial class NamespaceLayoutTests
{
    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)\s*[;{]", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AkkaMail.sln"))) return dir.FullName;
        throw new InvalidOperationException($"AkkaMail.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>The namespace a file in <paramref name="folder"/> (relative to its project) must declare.</summary>
    public static string ExpectedNamespace(string rootNamespace, string folder) =>
        string.Join('.', new[] { rootNamespace }.Concat(folder.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries)));

    private static string RootNamespace(string csproj) =>
        XDocument.Load(csproj).Descendants("RootNamespace").Select(e => e.Value.Trim()).FirstOrDefault(v => v.Length > 0)
        ?? Path.GetFileNameWithoutExtension(csproj);

    [Fact]
    public void Every_namespace_under_src_matches_its_folder()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        var projects = Directory.GetFiles(src, "*.csproj", SearchOption.AllDirectories);
        Assert.Contains(projects, p => Path.GetFileName(p) == "AkkaMail.csproj");
        var mismatches = new List<string>();
        foreach (var csproj in projects)
        {
            var projectDir = Path.GetDirectoryName(csproj)!;
            var rootNamespace = RootNamespace(csproj);
            var sources = Directory.GetFiles(projectDir, "*.cs", SearchOption.AllDirectories)
                .Where(f => !IsBuildOutput(Path.GetRelativePath(projectDir, f)))
                .ToList();
            Assert.NotEmpty(sources);
            foreach (var file in sources)
            {
                var relative = Path.GetRelativePath(projectDir, file);
                var expected = ExpectedNamespace(rootNamespace, Path.GetDirectoryName(relative) ?? "");
                foreach (Match declared in NamespaceDeclaration().Matches(File.ReadAllText(file)))
                    if (declared.Groups[1].Value != expected)
                        mismatches.Add($"{Path.GetRelativePath(src, file)}: namespace {declared.Groups[1].Value}, folder says {expected}");
            }
        }
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
    }

    private static bool IsBuildOutput(string relativePath) =>
        relativePath.Split(['/', '\\'])[0] is "obj" or "bin";

    [Fact]
    public void The_expected_namespace_is_the_root_namespace_and_the_folders()
    {
        Assert.Equal("AkkaMail", ExpectedNamespace("AkkaMail", ""));
        Assert.Equal("AkkaMail.Stores.Sqlite", ExpectedNamespace("AkkaMail", "Stores/Sqlite"));
        Assert.Equal("AkkaMail.Api.Infrastructure", ExpectedNamespace("AkkaMail.Api", "Infrastructure"));
        Assert.Matches(NamespaceDeclaration(), "using X;\nnamespace AkkaMail.Stores.Sqlite;\n");
        Assert.Equal("A.B", NamespaceDeclaration().Match("namespace A.B\n{\n}").Groups[1].Value);
    }
}

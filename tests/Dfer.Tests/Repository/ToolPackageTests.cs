using System.Reflection;
using System.Xml.Linq;
using Dfer.Cli;

namespace Dfer.Tests.Repository;

/// <summary>
/// src/Dfer.Cli packs as the .NET tool Dfer.Tool whose command is <c>dfer</c> (README, "Three doors"): the command
/// the tool installs is the name the CLI's help and messages use, the version the built CLI carries is the one in
/// Directory.Build.props, and CI packs, installs and runs it (scripts/pack.sh, the last step of .ci/run). Running the
/// installed tool is that script's job; these checks read the files it depends on.
/// </summary>
[TestFixture]
public sealed class ToolPackageTests
{
    internal static string Root => NoOutsideReferencesTests.RepositoryRoot();

    private static XElement CliProperties() => Properties("Dfer.Cli");

    internal static XElement Properties(string project)
    {
        var root = XDocument.Load(Path.Combine(Root, "src", project, project + ".csproj")).Root!;
        return new XElement("all", root.Elements("PropertyGroup").SelectMany(g => g.Elements()));
    }

    internal static string? Property(XElement properties, string name) =>
        properties.Elements(name).LastOrDefault()?.Value.Trim();

    [Test]
    public void CliPacksAsATool_WhoseCommandIsTheNameItsMessagesUse()
    {
        XElement properties = CliProperties();
        Assert.Multiple(() =>
        {
            Assert.That(Property(properties, "PackAsTool"), Is.EqualTo("true"));
            Assert.That(Property(properties, "ToolCommandName"), Is.EqualTo(DferCli.ExecutableName));
            Assert.That(Property(properties, "PackageId"), Is.EqualTo("Dfer.Tool"),
                "`dotnet tool install Dfer.Tool` installs the package of that id (README)");
            Assert.That(Property(properties, "IncludeSymbols"), Is.EqualTo("true"));
            Assert.That(Property(properties, "SymbolPackageFormat"), Is.EqualTo("snupkg"));
            Assert.That(Property(properties, "PackageReadmeFile"), Is.EqualTo("README.md"));
        });
    }

    /// <summary>A license in the package only with a LICENSE file in the repository, and the other way round.</summary>
    [TestCase("Dfer.Cli")]
    [TestCase("Dfer")]
    public void PackageNamesALicense_OnlyWhenTheRepositoryHasOne(string project)
    {
        bool licenseFile = Directory.EnumerateFiles(Root, "LICENSE*").Any()
            || Directory.EnumerateFiles(Root, "COPYING*").Any();
        XElement properties = Properties(project);
        bool licensed = Property(properties, "PackageLicenseExpression") is { Length: > 0 }
            || Property(properties, "PackageLicenseFile") is { Length: > 0 };
        Assert.That(licensed, Is.EqualTo(licenseFile),
            licenseFile ? "the repository has a license file: name its license in the package"
                : "the repository has no license file: the package may not claim a license");
    }

    /// <summary>The version the built CLI reports (<c>dfer --version</c>, results files' dfer_version) is the
    /// repository's one.</summary>
    [Test]
    public void BuiltCliCarriesTheRepositoryVersion()
    {
        var props = XDocument.Load(Path.Combine(Root, "Directory.Build.props")).Root!;
        string? version = props.Elements("PropertyGroup").Elements("Version").LastOrDefault()?.Value.Trim();
        Assert.That(version, Is.Not.Null.And.Not.Empty, "Directory.Build.props has no <Version>");
        string? informational = typeof(DferCli).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        Assert.That(informational?.Split('+')[0], Is.EqualTo(version));
    }

    /// <summary>CI checks the package after everything else: the last command of .ci/run is the pack script.</summary>
    [Test]
    public void CiPacksInstallsAndRunsTheToolLast()
    {
        Assert.That(File.Exists(Path.Combine(Root, "scripts", "pack.sh")), Is.True);
        string lastCommand = File.ReadLines(Path.Combine(Root, ".ci", "run"))
            .Select(l => l.Trim())
            .Last(l => l.Length > 0 && !l.StartsWith('#'));
        Assert.That(lastCommand, Is.EqualTo("scripts/pack.sh"));
    }
}

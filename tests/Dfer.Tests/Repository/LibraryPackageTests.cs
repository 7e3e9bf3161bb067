using System.Xml.Linq;

namespace Dfer.Tests.Repository;

/// <summary>
/// src/Dfer packs as the library package Dfer (docs/library.md): the engine's run-time packages are its
/// dependencies at the engine's versions, its public surface is declared (PublicAPI.*.txt), and the sample that CI
/// builds against the packed library (scripts/pack.sh) references the package, not the projects. Building and
/// running the sample is the script's job; these checks read the files it depends on.
/// </summary>
[TestFixture]
public sealed class LibraryPackageTests
{
    private static string Root => ToolPackageTests.Root;

    private static Dictionary<string, string> PackageReferences(string path, bool runtimeOnly) =>
        XDocument.Load(Path.Combine(Root, path)).Root!.Descendants("PackageReference")
            .Where(r => !runtimeOnly || (string?)r.Attribute("PrivateAssets") != "all")
            .ToDictionary(r => (string)r.Attribute("Include")!, r => (string)r.Attribute("Version")!);

    [Test]
    public void TheLibraryDependsOnTheEnginesRunTimePackages_AtTheEnginesVersions()
    {
        var engine = PackageReferences("src/Dfer.Engine/Dfer.Engine.csproj", runtimeOnly: true);
        var library = PackageReferences("src/Dfer/Dfer.csproj", runtimeOnly: true);
        Assert.That(library, Is.EquivalentTo(engine),
            "the Dfer package carries the engine's assembly, so its dependencies are the engine's packages");
    }

    [Test]
    public void TheLibraryIsThePackageDfer_WithItsSurfaceDeclared()
    {
        XElement properties = ToolPackageTests.Properties("Dfer");
        Assert.Multiple(() =>
        {
            Assert.That(ToolPackageTests.Property(properties, "PackageId"), Is.EqualTo("Dfer"));
            Assert.That(ToolPackageTests.Property(properties, "GenerateDocumentationFile"), Is.EqualTo("true"));
            Assert.That(ToolPackageTests.Property(properties, "IncludeSymbols"), Is.EqualTo("true"));
            Assert.That(ToolPackageTests.Property(properties, "PackageReadmeFile"), Is.EqualTo("README.md"));
        });
        string unshipped = File.ReadAllText(Path.Combine(Root, "src", "Dfer", "PublicAPI.Unshipped.txt"));
        Assert.That(unshipped, Does.Contain("Dfer.DferModel.ScoreVideo(string! path"));
        Assert.That(unshipped, Does.Not.Contain("engine::"), "no engine type may appear in the public API");
    }

    [Test]
    public void TheSample_ReferencesThePackage_AndIsNotInTheSolution()
    {
        var sample = PackageReferences("samples/Dfer.Sample/Dfer.Sample.csproj", runtimeOnly: false);
        Assert.That(sample.Keys, Is.EqualTo(new[] { "Dfer" }));
        Assert.That(XDocument.Load(Path.Combine(Root, "samples/Dfer.Sample/Dfer.Sample.csproj")).Root!
            .Descendants("ProjectReference"), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(Root, "Dfer.sln")), Does.Not.Contain("Dfer.Sample"),
            "the solution must build before the package exists");
        Assert.That(File.ReadAllText(Path.Combine(Root, "scripts", "pack.sh")), Does.Contain("samples/Dfer.Sample"));
    }
}

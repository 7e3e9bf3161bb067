using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Dfer.Cli;
using Dfer.Cli.Plots;
using Dfer.Models;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer profile</c>: the accounting and the files it writes (no timing is asserted beyond "layers lie
/// inside the pass").</summary>
[TestFixture]
public class ProfileCommandTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    [Test]
    public void M3dfel_Json_LayersAddUp_TraceAndRooflineAreWritten()
    {
        string trace = _files.PathOf("t.json"), plot = _files.PathOf("r.svg");
        CliRun run = CliHarness.Run("profile", "--model", "m3dfel", "--batch", "1", "--warmup", "0", "--repeats", "1",
            "--format", "json", "--trace", trace, "--plot", plot);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        var graph = CliHarness.Model.Build(CliHarness.Model.GenerateWeights(1));
        var layers = json.GetProperty("layers").EnumerateArray().ToList();

        Assert.That(layers.Select(l => l.GetProperty("name").GetString()), Is.EqualTo(graph.Nodes.Select(n => n.Name)),
            "one row per graph node, in order");
        long flops = graph.Flops([1, 16, 3, 112, 112]);
        Assert.That(json.GetProperty("flops").GetInt64(), Is.EqualTo(flops));
        Assert.That(layers.Sum(l => l.GetProperty("flops").GetInt64()), Is.EqualTo(flops));
        Assert.That(flops / 1e9, Is.EqualTo(86.4).Within(0.1),
            "M3DFEL's 86.3 GFLOP of convolutions plus the small ops");
        double total = json.GetProperty("total_ms").GetDouble();
        double sum = layers.Sum(l => l.GetProperty("ms").GetDouble());
        Assert.That(sum, Is.LessThanOrEqualTo(total), "layers are timed inside the pass");
        Assert.That(json.GetProperty("uncovered_ms").GetDouble(), Is.EqualTo(total - sum).Within(1e-6));
        Assert.That(layers.Where(l => l.GetProperty("op").GetString() == "conv3d")
            .Select(l => l.GetProperty("bound").GetString()), Has.All.AnyOf("compute", "memory"));
        Assert.That(json.GetProperty("peaks").GetProperty("source").GetString(), Does.StartWith("measured"));

        // Executed FLOPs: the kernels' own count next to the definition's. features.1.0.conv1 (3x3x3 over 56x56
        // frames) runs Winograd on the cpu backend: fewer multiplications than its definition. Layers whose kernels do
        // not count their own (all but conv3d, conv2d, linear) execute the definition.
        double Gflop(JsonElement l) => l.GetProperty("executed_gflop").GetDouble();
        JsonElement winograd = layers.Single(l => l.GetProperty("name").GetString() == "features.1.0.conv1");
        Assert.That(Gflop(winograd) * 1e9, Is.GreaterThan(0).And.LessThan(winograd.GetProperty("flops").GetInt64()));
        foreach (JsonElement l in layers.Where(l => l.GetProperty("op").GetString() != "conv3d"))
            Assert.That(Gflop(l) * 1e9, Is.EqualTo(l.GetProperty("flops").GetInt64()).Within(1),
                l.GetProperty("name").GetString());
        Assert.That(json.GetProperty("executed_gflop").GetDouble(), Is.EqualTo(layers.Sum(Gflop)).Within(1e-9));
        foreach (JsonElement l in layers.Where(l => l.GetProperty("ms").GetDouble() > 0))
            Assert.That(l.GetProperty("executed_gflops_per_s").GetDouble(),
                Is.EqualTo(Gflop(l) / (l.GetProperty("ms").GetDouble() / 1000)).Within(1e-6).Percent);

        using var doc = JsonDocument.Parse(File.ReadAllText(trace));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.That(events.Select(e => e.GetProperty("name").GetString()), Is.EqualTo(graph.Nodes.Select(n => n.Name)));
        Assert.That(events.All(e => e.GetProperty("dur").GetDouble() >= 0 && e.GetProperty("ts").GetDouble() >= 0));

        XDocument svg = XDocument.Load(plot);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.That(svg.Root!.Name, Is.EqualTo(ns + "svg"));
        var texts = svg.Descendants(ns + "text").Select(t => t.Value.Trim()).ToList();
        Assert.That(texts, Has.Some.StartsWith("compute peak").And.Some.StartsWith("memory"), "the roof's values");
        var slowest = layers.OrderByDescending(l => l.GetProperty("ms").GetDouble()).Take(RooflinePlot.Labelled)
            .Select(l => l.GetProperty("name").GetString());
        Assert.That(texts, Is.SupersetOf(slowest), "the slowest layers are labelled");
        Assert.That(svg.Descendants(ns + "path")
            .Count(p => string.Equals((string?)p.Attribute("stroke"), RooflinePlot.RoofColour,
            StringComparison.OrdinalIgnoreCase)),
            Is.EqualTo(1), "the roof");
    }

    [Test]
    public void Table_ListsLayersTotalsAndTheSlowest()
    {
        CliRun run = CliHarness.Run("profile", "--model", "m3dfel", "--warmup", "0", "--repeats", "1", "--top", "3");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout,
            Does.Contain("features.1.0.conv1").And.Contain("slowest 3 layers").And.Contain("between layers"));
        string header = run.Stdout.Split('\n').First(line => line.StartsWith("layer "));
        Assert.That(header.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            Is.EqualTo(new[] { "layer", "op", "ms", "%", "GFLOP", "exec", "GFLOP", "MB", "GFLOP/s", "GB/s", "%roof",
                "bound" }), "nominal and executed GFLOP, then the rates");
        string[] winograd = run.Stdout.Split('\n').First(line => line.StartsWith("features.1.0.conv1 "))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double nominal = double.Parse(winograd[4], CultureInfo.InvariantCulture),
            executed = double.Parse(winograd[5], CultureInfo.InvariantCulture);
        Assert.That(executed, Is.GreaterThan(0).And.LessThan(nominal), "Winograd multiplies less than conv3d defines");
        Assert.That(run.Stdout, Does.Contain("executed").And.Contain(Dfer.Cli.Commands.ProfileCommand.Footnote));
    }

    /// <summary>The other backends take minutes per M3DFEL clip here (reference: float64 loops; ilgpu-cpu: an emulated
    /// GPU), so cpu is compared with itself.</summary>
    [Test]
    public void Compare_ShowsTheSameLayersForEachBackend()
    {
        CliRun run = CliHarness.Run("profile", "--model", "m3dfel", "--compare", "cpu,cpu", "--warmup", "0",
            "--repeats", "1", "--format", "json", "--batch", "1");
        if (run.ExitCode != ExitCodes.Ok) Assert.Fail(run.ToString());
        var profiles = run.Json().GetProperty("profiles").EnumerateArray().ToList();
        Assert.That(profiles.Select(p => p.GetProperty("backend").GetString()), Is.EqualTo(new[] { "cpu", "cpu" }));
        Assert.That(profiles[1].GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()),
            Is.EqualTo(profiles[0].GetProperty("layers").EnumerateArray()
            .Select(l => l.GetProperty("name").GetString())));
    }

    [TestCase("--precision", "bf16", "fp32 only")]
    [TestCase("--trace", "t.txt", ".json")]
    public void BadOptions_AreUsageErrors(string option, string value, string phrase)
    {
        CliRun run = CliHarness.Run("profile", "--model", "m3dfel", option, value);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain(phrase));
    }
}

using System.Xml.Linq;
using Dfer.Cli.Plots;
using Dfer.Faces;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Runtime;
using SkiaSharp;

namespace Dfer.Tests.Cli;

/// <summary>The expression timeline and the roofline, drawn by ScottPlot as SVG and PNG from made-up results.</summary>
public class PlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("dfer-plots").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>12 frames: a face in 0-4 and 7-11 (happy rising), none in 5-6.</summary>
    private static ExpressionReport Report()
    {
        var frames = Enumerable.Range(0, 12).Select(i =>
        {
            if (i is 5 or 6) return new ExpressionFrame(i, null, null, null);
            float happy = 0.3f + 0.05f * i;
            float[] p = [happy, (1 - happy) / 6, (1 - happy) / 6, (1 - happy) / 6, (1 - happy) / 6, (1 - happy) / 6,
                (1 - happy) / 6];
            return new ExpressionFrame(i, new FaceBox(10, 10, 60, 70, 0.9), p, p);
        }).ToList();
        return new ExpressionReport("clip.mp4", frames, [0.6f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.05f], 3, 320,
            240)
        { Fps = 25 };
    }

    [Test]
    public void Timeline_OfATemporalEncoder_SaysSoAndPlotsItsProbabilities()
    {
        var encoder = TemporalEncoder.Load(Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures",
            "temporal", "postnorm_relu_none.pth"));
        var plain = Report();
        // The encoder calls every face frame "sad" at 0.9; the smoothed probabilities stay happy-rising.
        float[] sad = [0.01f, 0.9f, 0.03f, 0.03f, 0.01f, 0.01f, 0.01f];
        var report = plain with
        {
            Frames = plain.Frames.Select(f => f.Face is null ? f : f with { Temporal = sad }).ToList(),
            Probabilities = sad,
            Temporal = encoder,
            MeanProbabilities = plain.Probabilities,
        };
        string path = Path.Combine(_dir, "t.svg");
        ExpressionTimeline.Write(report, path);
        var texts = Texts(XDocument.Load(path)).ToList();
        Assert.That(texts, Has.Some.EqualTo(
            "clip.mp4: sad (0.90), face in 10 of 12 frames, Temporal Encoder postnorm_relu_none.pth (W = 5)"));
        Assert.That(texts, Has.Some.EqualTo("probability (Temporal Encoder)"));
        Assert.That(texts, Has.Some.EqualTo("sad 0.90"));
        // The sad line is flat at 0.9 (y of every point equal); the smoothed happy line would rise.
        var sadLines = XDocument.Load(path).Descendants(Svg + "path").Where(p => string.Equals(
            (string?)p.Attribute("stroke"), ExpressionTimeline.Colours[1], StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.That(sadLines, Is.Not.Empty);
        foreach (var line in sadLines)
        {
            var ys = System.Text.RegularExpressions.Regex.Matches((string)line.Attribute("d")!,
                @"[ML]\s*[-\d.]+[ ,]+([-\d.]+)").Select(m => m.Groups[1].Value).Distinct().ToList();
            Assert.That(ys, Has.Count.EqualTo(1), (string)line.Attribute("d")!);
        }
    }

    private static IEnumerable<string> Texts(XDocument svg)
        => svg.Descendants(Svg + "text").Select(t => t.Value.Trim());

    [Test]
    public void Timeline_Svg_HasTheSevenSeriesLegendAndTitle()
    {
        string path = Path.Combine(_dir, "t.svg");
        ExpressionTimeline.Write(Report(), path);
        XDocument svg = XDocument.Load(path);
        Assert.That(svg.Root!.Name, Is.EqualTo(Svg + "svg"));
        var texts = Texts(svg).ToList();
        Assert.That(texts,
            Has.Some.EqualTo(
                "clip.mp4: happy (0.60), face in 10 of 12 frames, confidence-weighted mean over 3 frames"));
        Assert.That(texts, Has.Some.EqualTo("probability (smoothed)"));
        foreach (var (name, p) in EmotionClasses.Seven.Zip(
            new[] { "0.60", "0.10", "0.10", "0.05", "0.05", "0.05", "0.05" }))
            Assert.That(texts, Has.Some.EqualTo($"{name} {p}"), "legend entry of " + name);
        Assert.That(texts, Has.Some.EqualTo("face"));
        // Each class is broken where no face was found: two runs per class, in its colour.
        foreach (string colour in ExpressionTimeline.Colours)
            Assert.That(svg.Descendants(Svg + "path")
                .Count(p => string.Equals((string?)p.Attribute("stroke"), colour, StringComparison.OrdinalIgnoreCase)),
                Is.GreaterThanOrEqualTo(2), colour);
    }

    [Test]
    public void Timeline_Png_HasItsSizeTheLinesAndTheFaceStrip()
    {
        string path = Path.Combine(_dir, "t.png");
        ExpressionTimeline.Write(Report(), path);
        using SKBitmap png = SKBitmap.Decode(path);
        Assert.That((png.Width, png.Height), Is.EqualTo((ExpressionTimeline.Width, ExpressionTimeline.Height)));
        var colours = new HashSet<SKColor>();
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++) colours.Add(png.GetPixel(x, y).WithAlpha(255));
        Assert.That(colours, Does.Contain(SKColor.Parse(ExpressionTimeline.Colours[0])), "the happy line");
        Assert.That(colours, Does.Contain(SKColor.Parse("#3c9d3c")), "frames with a face");
        Assert.That(colours, Does.Contain(SKColor.Parse("#bbbbbb")), "frames without");
    }

    [Test]
    public void Timeline_OtherExtension_IsRefused()
    {
        var e = Assert.Throws<DferException>(() => ExpressionTimeline.Write(Report(), Path.Combine(_dir, "t.pdf")));
        Assert.That(e!.Message, Does.Contain("written as .svg or .png"));
    }

    private static ProfileResult Profile()
    {
        LayerProfile[] layers =
        [
            new("conv1", "conv3d", 8, 8_000_000_000, 40_000_000, 3_600_000_000),
            new("conv2", "conv3d", 4, 2_000_000_000, 100_000_000, 2_000_000_000),
            new("lstm", "lstm", 1, 10_000_000, 20_000_000, 10_000_000),
            new("head", "linear", 0.2, 1_000_000, 2_000_000, 2_000_000),
            new("reshape", "reshape", 0.01, 0, 0, 0),
        ];
        return new ProfileResult("m3dfel", "cpu", "test CPU", 1, "fp32", 14, layers.Sum(l => l.Flops), layers,
            new DevicePeaks(1000, 20, "measured (test)"), [], 1);
    }

    [Test]
    public void Roofline_Svg_HasTheRoofItsValuesAndALabelledPointPerLayer()
    {
        string path = Path.Combine(_dir, "r.svg");
        RooflinePlot.Write(path, Profile());
        XDocument svg = XDocument.Load(path);
        Assert.That(svg.Root!.Name, Is.EqualTo(Svg + "svg"));
        var texts = Texts(svg).ToList();
        Assert.That(texts, Has.Some.EqualTo("compute peak 1000 GFLOP/s"));
        Assert.That(texts, Has.Some.EqualTo("memory 20 GB/s"));
        Assert.That(texts, Is.SupersetOf(new[] { "conv1", "conv2", "lstm", "head" }),
            "the slowest layers are labelled");
        Assert.That(texts, Has.None.EqualTo("reshape"), "a layer without work is not drawn");
        Assert.That(svg.Descendants(Svg + "path")
            .Count(p => string.Equals((string?)p.Attribute("stroke"), RooflinePlot.RoofColour,
            StringComparison.OrdinalIgnoreCase)),
            Is.EqualTo(1), "the roof");
        Assert.That(svg.Descendants(Svg + "ellipse").Count(), Is.GreaterThanOrEqualTo(4),
            "a point per layer that works");
    }

    [Test]
    public void Roofline_Png_HasItsSizeAndThePoints()
    {
        string path = Path.Combine(_dir, "r.png");
        RooflinePlot.Write(path, Profile());
        using SKBitmap png = SKBitmap.Decode(path);
        Assert.That((png.Width, png.Height), Is.EqualTo((RooflinePlot.Width, RooflinePlot.Height)));
        int roof = 0;
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++)
                if (png.GetPixel(x, y).WithAlpha(255) == SKColor.Parse(RooflinePlot.RoofColour)) roof++;
        Assert.That(roof, Is.GreaterThan(100), "the roof's line");
    }
}

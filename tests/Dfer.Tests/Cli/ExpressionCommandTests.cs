using Dfer.Media;
using Dfer.Tests.Media;
using Dfer.Weights.TfJs;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer infer --model expression</c> end to end: the demo clip, a video without a face, a corrupt video,
/// bad options.</summary>
[TestFixture]
public class ExpressionCommandTests
{
    private CliHarness _h = null!;

    [SetUp]
    public void SetUp() => _h = new CliHarness();

    [TearDown]
    public void TearDown() => _h.Dispose();

    /// <summary><paramref name="count"/> 320×320 frames of the middle face of face-api's demo/sample3.jpg (a broad
    /// smile), slowly zooming in.</summary>
    internal static List<RgbImage> SmileFrames(int count)
    {
        var image = ExpressionPipeline_Read(Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg"));
        var frames = new List<RgbImage>();
        for (int i = 0; i < count; i++)
        {
            int side = 700 - 20 * i, cx = (int)(image.Width * 0.55), cy = (int)(image.Height * 0.24);
            frames.Add(Crop(image, cx - side / 2, cy - side / 2, side, 320));
        }
        return frames;
    }

    internal static void RequireWeights()
    {
        if (FaceApiPackage.TryManifest(FaceApiPackage.ExpressionModel) is null
            || FaceApiPackage.TryManifest(FaceApiPackage.DetectorModel) is null)
            Assert.Ignore(
                $"face-api weights not fetched into {FaceApiPackage.Directory}: run ./scripts/fetch-face-api.sh "
                + "(.ci/run does)");
    }

    [Test]
    public void SmilingFace_IsHappy_WithTimelineAndJson()
    {
        RequireWeights();
        Ffmpeg.Require();
        string video = _h.PathOf("smile.mp4");
        Ffmpeg.Encode(video, SmileFrames(10), "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p");
        string svg = _h.PathOf("t.svg"), overlay = _h.PathOf("overlay.mp4");
        var run = CliHarness.Run("infer", "--model", "expression", video, "--timeline", svg, "--overlay", overlay,
            "--format", "json", "--threads", "2");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var result = run.Json().GetProperty("results")[0];
        Assert.That(result.GetProperty("label").GetString(), Is.EqualTo("happy"), run.Stdout);
        Assert.That(result.GetProperty("frames").GetInt32(), Is.EqualTo(10));
        Assert.That(result.GetProperty("frames_with_face").GetInt32(), Is.GreaterThanOrEqualTo(5));
        Assert.That(result.GetProperty("probabilities")[0].GetDouble(), Is.GreaterThan(0.5));
        Assert.That(result.GetProperty("per_frame").GetArrayLength(), Is.EqualTo(10));
        Assert.That(result.GetProperty("fps").GetDouble(), Is.EqualTo(25));
        Assert.That(result.GetProperty("per_frame")[5].GetProperty("time").GetDouble(), Is.EqualTo(0.2));
        var drawn = Dfer.Pipelines.ExpressionPipeline.ReadFrames(overlay);
        Assert.That(drawn, Has.Count.EqualTo(10), "the overlay has every frame");
        Assert.That((drawn[0].Width, drawn[0].Height), Is.EqualTo((320, 320)));
        var plot = System.Xml.Linq.XDocument.Load(svg);
        System.Xml.Linq.XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.That(plot.Root!.Name, Is.EqualTo(ns + "svg"));
        var texts = plot.Descendants(ns + "text").Select(t => t.Value.Trim()).ToList();
        Assert.That(texts, Has.Some.StartsWith("smile.mp4: happy"), "the title names the clip's label");
        Assert.That(texts.Count(t => Dfer.Models.EmotionClasses.Seven.Any(c => t.StartsWith(c + " "))), Is.EqualTo(7),
            "a legend entry per class");
        Assert.That(plot.Descendants(ns + "path").Count(), Is.GreaterThan(7), "the seven lines and the face strip");
    }

    [Test]
    public void VideoWithoutAFace_SaysSo()
    {
        RequireWeights();
        Ffmpeg.Require();
        string video = _h.PathOf("wall.mp4");
        var frames = Enumerable.Range(0, 6).Select(i =>
        {
            var px = new byte[160 * 120 * 3];
            for (int p = 0; p < px.Length; p++) px[p] = (byte)(90 + (p / 3 % 160) / 4 + 10 * i);
            return new RgbImage(160, 120, px);
        }).ToList();
        Ffmpeg.Encode(video, frames, "-c:v", "libx264", "-pix_fmt", "yuv420p");
        var run = CliHarness.Run("infer", "--model", "expression", video, "--threads", "2");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StderrLines, Has.Some.Contains("no face found in any of its 6 frames"), run.ToString());
        Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void CorruptVideo_OneClearLine()
    {
        RequireWeights();
        Ffmpeg.Require();
        string video = _h.PathOf("broken.mp4");
        File.WriteAllBytes(video,
            new Dfer.Tensors.DeterministicRandom(TestSeed.Use(5)).Uniform(4096, 0, 255).Select(v => (byte)v).ToArray());
        var run = CliHarness.Run("infer", "--model", "expression", video);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        var errors = run.StderrLines.Where(l => l.Contains("error")).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain("broken.mp4"));
        Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void MissingPackage_NamesTheFetchScript()
    {
        string? old = Environment.GetEnvironmentVariable("DFER_FACE_API");
        try
        {
            Environment.SetEnvironmentVariable("DFER_FACE_API", _h.PathOf("empty"));
            var run = CliHarness.Run("infer", "--model", "expression", _h.PathOf("any.mp4"));
            Assert.That(run.ExitCode, Is.Not.Zero, run.ToString());
            Assert.That(run.Stderr, Does.Contain("./scripts/fetch-face-api.sh"), run.ToString());
        }
        finally { Environment.SetEnvironmentVariable("DFER_FACE_API", old); }
    }

    [TestCase("--weights", "w.pth", "--weights, --key and --generated-weights do not apply")]
    [TestCase("--generated-weights", null, "--weights, --key and --generated-weights do not apply")]
    [TestCase("--timeline", "t.pdf", "written as .svg or .png")]
    [TestCase("--detector-size", "100", "multiple of 32")]
    public void BadOptions(string option, string? value, string message)
    {
        var run = CliHarness.Run(
            value is null ? ["infer", "--model", "expression", "a.mp4", option]
            : ["infer", "--model", "expression", "a.mp4", option, value]);
        Assert.That(run.ExitCode, Is.Not.Zero, run.ToString());
        Assert.That(run.Stderr, Does.Contain(message), run.ToString());
    }

    [Test]
    public void EmptyInput_PointsAtTheDemoScript()
    {
        RequireWeights();
        var run = CliHarness.Run("infer", "--model", "expression", "");
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Stderr, Does.Contain("make-demo-video.sh"), run.ToString());
    }

    [Test]
    public void ExpressionOptions_AreRefusedForOtherModels()
    {
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "a.mp4", "--timeline", "t.svg");
        Assert.That(run.ExitCode, Is.Not.Zero, run.ToString());
        Assert.That(run.Stderr, Does.Contain("--timeline is an option of --model expression"), run.ToString());
    }

    private static RgbImage ExpressionPipeline_Read(string path)
        => Dfer.Pipelines.ExpressionPipeline.ReadFrames(path)[0];

    /// <summary>A square window of <paramref name="image"/> scaled to <paramref name="size"/>² by nearest neighbour
    /// (black outside).</summary>
    private static RgbImage Crop(RgbImage image, int x0, int y0, int side, int size)
    {
        var px = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int sx = x0 + x * side / size, sy = y0 + y * side / size;
                if (sx < 0 || sy < 0 || sx >= image.Width || sy >= image.Height) continue;
                for (int c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = image.Pixels[(sy * image.Width + sx) * 3 + c];
            }
        return new RgbImage(size, size, px);
    }
}

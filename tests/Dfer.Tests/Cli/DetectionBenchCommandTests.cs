using Dfer.Cli;
using Dfer.Weights.TfJs;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer bench --detector</c> (docs/detection-benchmark.md): a short run's table and JSON, and the option
/// combinations it refuses with one line.</summary>
[TestFixture]
public class DetectionBenchCommandTests
{
    private static void Require()
    {
        if (FaceApiPackage.TryManifest(FaceApiPackage.DetectorModel) is null
            || !File.Exists(Path.Combine(FaceApiPackage.Directory, "demo", "sample1.jpg")))
            Assert.Ignore($"face-api weights and demo photos not fetched into {FaceApiPackage.Directory}: run "
                + "./scripts/fetch-face-api.sh (.ci/run does)");
    }

    // Every frame detected: four-frame clips zoom too fast between every 4th frame for the tracker to link.
    private static readonly string[] Short =
        ["bench", "--detector", "tiny", "--clips", "2", "--frames", "4", "--threads", "2", "--detect-every", "1"];

    [Test]
    public void Tiny_OnTwoShortClips_WritesItsScoresAndSpeed_AsJson()
    {
        Require();
        var run = CliHarness.Run([.. Short, "--format", "json"]);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var json = run.Json();
        Assert.That(json.GetProperty("clips").GetInt32(), Is.EqualTo(2));
        Assert.That(json.GetProperty("frames").GetInt32(), Is.EqualTo(8));
        Assert.That(json.GetProperty("frames_per_clip").GetInt32(), Is.EqualTo(4));
        Assert.That(json.GetProperty("frame_width").GetInt32(), Is.EqualTo(640));
        Assert.That(json.GetProperty("iou_threshold").GetDouble(), Is.EqualTo(0.5));
        Assert.That(json.GetProperty("threads").GetInt32(), Is.EqualTo(2));
        var detectors = json.GetProperty("detectors");
        Assert.That(detectors.GetArrayLength(), Is.EqualTo(1));
        var tiny = detectors[0];
        Assert.That(tiny.GetProperty("detector").GetString(), Is.EqualTo("tiny"));
        Assert.That(tiny.GetProperty("input_size").GetInt32(), Is.EqualTo(416));
        Assert.That(tiny.GetProperty("score_threshold").GetDouble(), Is.EqualTo(0.5), "the tiny detector's default");
        double fps = tiny.GetProperty("frames_per_s").GetDouble();
        Assert.That(fps, Is.GreaterThan(0));
        Assert.That(tiny.GetProperty("realtime_factor").GetDouble(), Is.EqualTo(fps / 25).Within(1e-9));
        Assert.That(tiny.GetProperty("detect_every").GetInt32(), Is.EqualTo(1));
        Assert.That(tiny.GetProperty("stage_frames_per_s").GetDouble(),
            Is.EqualTo(8 / tiny.GetProperty("stage_seconds").GetDouble()).Within(1e-6), "8 frames through the stage");
        var kinds = tiny.GetProperty("kinds");
        Assert.That(Enumerable.Range(0, kinds.GetArrayLength()).Select(i => kinds[i].GetProperty("kind").GetString()),
            Is.EqualTo(new[] { "all", "zoom", "pan" }), "sample1's first two clips");
        foreach (string boxes in new[] { "raw", "tracked" })
        {
            var all = kinds[0].GetProperty(boxes);
            Assert.That(all.GetProperty("frames").GetInt32(), Is.EqualTo(8), boxes);
            Assert.That(all.GetProperty("faces").GetInt32(), Is.GreaterThanOrEqualTo(16), boxes);
            Assert.That(all.GetProperty("frame_recall").GetDouble(), Is.InRange(0.5, 1), boxes);
            Assert.That(all.GetProperty("face_recall").GetDouble(), Is.InRange(0.5, 1), boxes);
            Assert.That(all.GetProperty("mean_iou").GetDouble(), Is.InRange(0.5, 1), boxes);
            Assert.That(all.GetProperty("false_per_frame").GetDouble(), Is.GreaterThanOrEqualTo(0), boxes);
            Assert.That(all.GetProperty("matched").GetInt32(),
                Is.EqualTo(kinds[1].GetProperty(boxes).GetProperty("matched").GetInt32()
                    + kinds[2].GetProperty(boxes).GetProperty("matched").GetInt32()), $"{boxes}: all = zoom + pan");
        }
    }

    /// <summary>The score reaches the network's NMS: a stricter one keeps a subset of the boxes (greedy NMS decides the
    /// boxes above it the same way), so never more detections.</summary>
    [Test]
    public void DetectorScore_IsEchoed_AndAStricterOneKeepsNoMoreBoxes()
    {
        Require();
        int Detections(string score, out double echoed)
        {
            var run = CliHarness.Run("bench", "--detector", "tiny", "--clips", "1", "--frames", "3", "--threads", "2",
                "--detector-score", score, "--format", "json");
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            var d = run.Json().GetProperty("detectors")[0];
            echoed = d.GetProperty("score_threshold").GetDouble();
            var raw = d.GetProperty("kinds")[0].GetProperty("raw");
            return raw.GetProperty("matched").GetInt32() + raw.GetProperty("false_detections").GetInt32();
        }
        int loose = Detections("0.2", out double low), strict = Detections("0.95", out double high);
        Assert.That((low, high), Is.EqualTo((0.2, 0.95)));
        Assert.That(loose, Is.GreaterThan(0), "the zoom clip has faces");
        Assert.That(strict, Is.LessThanOrEqualTo(loose));
    }

    [Test]
    public void Tiny_OnOneShortClip_WritesTheTables()
    {
        Require();
        var run = CliHarness.Run("bench", "--detector", "tiny", "--clips", "1", "--frames", "3", "--threads", "2");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.StartWith("detector  clips  frames  frame recall %  tracked  face recall %"));
        Assert.That(lines[1], Does.Match(@"^tiny\s+all\s+3\s"));
        Assert.That(lines[2], Does.Match(@"^tiny\s+zoom\s+3\s"));
        Assert.That(lines[3], Does.StartWith("detector  input"));
        Assert.That(lines[4],
            Does.Match(@"^tiny\s+416x416\s+0\.50\s+\d+\.\d\s+\d+\.\d\dx\s+\d+\.\d \(every 3\)\s+\d+\.\d\dx\s+cpu on "));
        Assert.That(lines[5], Does.StartWith("1 clips of 3 frames, 640 pixels wide"));
    }

    [TestCase(new string[0],
        "give --model NAME to time a model, or --detector ssd|tiny|all for the face detection benchmark")]
    [TestCase(new[] { "--detector", "ssd", "--model", "m3dfel" },
        "--detector benchmarks the face detectors and --model times a model: give one")]
    [TestCase(new[] { "--model", "m3dfel", "--frames", "4" },
        "--frames applies to the face detection benchmark; add --detector ssd|tiny|all instead of --model")]
    [TestCase(new[] { "--detector", "tiny", "--batch", "4" },
        "--batch applies to timing a --model; --detector runs the face-api detectors on their own weights, in fp32, "
        + "over every benchmark frame once")]
    [TestCase(new[] { "--detector", "ssd", "--detector-size", "320" },
        "--detector-size sets the tiny detector's input; the ssd detector's is 512")]
    [TestCase(new[] { "--detector", "yolo" }, "--detector yolo: not one of ssd, tiny, all")]
    [TestCase(new[] { "--detector", "tiny", "--detector-size", "100" }, "--detector-size 100: not a multiple of 32")]
    [TestCase(new[] { "--detector", "tiny", "--frames", "1" }, "--frames 1: at least 2")]
    public void SenselessCombinations_AreRefused_WithOneLine(string[] args, string message)
    {
        var run = CliHarness.Run(["bench", .. args]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines[0], Is.EqualTo($"dfer: error: {message}"));
        Assert.That(run.Stdout, Is.Empty);
    }
}

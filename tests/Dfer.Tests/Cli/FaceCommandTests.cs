using Dfer.Media;
using Dfer.Tests.Media;
using Dfer.Weights.TfJs;

namespace Dfer.Tests.Cli;

/// <summary>The face stage end to end through the DFER models' commands (docs/faces.md): the three ways to the same
/// logits, what the output says, and the videos it must refuse with one line each.</summary>
[TestFixture]
public class FaceCommandTests
{
    private CliHarness _h = null!;

    [SetUp]
    public void SetUp() => _h = new CliHarness();

    [TearDown]
    public void TearDown() => _h.Dispose();

    private static void Require()
    {
        if (FaceApiPackage.TryManifest(FaceApiPackage.DetectorModel) is null)
            Assert.Ignore($"face-api weights not fetched into {FaceApiPackage.Directory}: run "
                + "./scripts/fetch-face-api.sh (.ci/run does)");
        Ffmpeg.Require();
    }

    /// <summary>
    /// <paramref name="frames"/> frames of 480×270 panning slowly over the middle woman of demo/sample3.jpg (her
    /// face about a third of the frame's height); with <paramref name="faceFrames"/> set, the frames after it show a
    /// plain wall instead (the face left).
    /// </summary>
    private string FaceVideo(string name, int frames, int? faceFrames = null)
    {
        var photo = MediaInput.ReadFrames(Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg"))[0];
        var list = new List<RgbImage>();
        for (int i = 0; i < frames; i++)
        {
            var px = new byte[480 * 270 * 3];
            if (faceFrames is null || i < faceFrames)
            {
                int x0 = (int)(photo.Width * 0.55) - 480 + 4 * i, y0 = (int)(photo.Height * 0.24) - 270;
                for (int y = 0; y < 270; y++)
                    for (int x = 0; x < 480; x++)
                    {
                        int sx = x0 + 2 * x, sy = y0 + 2 * y;
                        if (sx < 0 || sy < 0 || sx >= photo.Width || sy >= photo.Height) continue;
                        for (int c = 0; c < 3; c++)
                            px[(y * 480 + x) * 3 + c] = photo.Pixels[(sy * photo.Width + sx) * 3 + c];
                    }
            }
            else Array.Fill(px, (byte)(120 + i % 3));
            list.Add(new RgbImage(480, 270, px));
        }
        string path = _h.PathOf(name);
        Ffmpeg.Encode(path, list, "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p");
        return path;
    }

    [Test]
    public void FaceDetect_GivesTheLogitsOfPreprocessThenInfer_AndOfTheSavedCrops()
    {
        Require();
        string video = FaceVideo("face.mp4", 24);
        string[] model = ["--model", "m3dfel", "--generated-weights", "--threads", "2", "--format", "json"];
        var direct = CliHarness.Run(["infer", .. model, "--face", "detect", video]);
        Assert.That(direct.ExitCode, Is.Zero, direct.ToString());
        var result = direct.Json().GetProperty("results")[0];
        var face = result.GetProperty("face");
        Assert.That(face.GetProperty("mode").GetString(), Is.EqualTo("detect"));
        Assert.That(face.GetProperty("sampled_frames").GetInt32(), Is.EqualTo(16));
        Assert.That(face.GetProperty("frames_with_face").GetInt32(), Is.EqualTo(16));
        // M3DFEL samples int(24·i/16): frames 0, 1, 3, 4, 6, ...
        Assert.That(face.GetProperty("boxes")[2].GetProperty("frame").GetInt32(), Is.EqualTo(3));
        var box = face.GetProperty("boxes")[0];
        Assert.That(box.GetProperty("height").GetDouble(), Is.InRange(50, 200), "a face about a third of 270");
        float[] logits = CliAssert.Floats(result.GetProperty("logits"));

        string npy = _h.PathOf("x.npy"), crops = _h.PathOf("crops");
        var pre = CliHarness.Run("preprocess", "--model", "m3dfel", "--threads", "2", video, "--output", npy,
            "--crops", crops);
        Assert.That(pre.ExitCode, Is.Zero, pre.ToString());
        Assert.That(Directory.GetFiles(crops, "*.png"), Has.Length.EqualTo(16));
        var crop = MediaInput.ReadFrames(Path.Combine(crops, "frame_000003.png"))[0];
        Assert.That((crop.Width, crop.Height), Is.EqualTo((224, 224)));

        var fromTensor = CliHarness.Run(["infer", .. model, npy]);
        Assert.That(fromTensor.ExitCode, Is.Zero, fromTensor.ToString());
        Assert.That(CliAssert.Floats(fromTensor.Json().GetProperty("results")[0].GetProperty("logits")),
            Is.EqualTo(logits), "preprocess --face detect writes exactly what the model saw");

        var fromCrops = CliHarness.Run(["infer", .. model, "--face", "none", crops]);
        Assert.That(fromCrops.ExitCode, Is.Zero, fromCrops.ToString());
        Assert.That(CliAssert.Floats(fromCrops.Json().GetProperty("results")[0].GetProperty("logits")),
            Is.EqualTo(logits), "the saved crops as a frame folder give the same clip");

        var whole = CliHarness.Run(["infer", .. model, "--face", "none", video]);
        Assert.That(CliAssert.Floats(whole.Json().GetProperty("results")[0].GetProperty("logits")),
            Is.Not.EqualTo(logits), "without the face stage the model sees the whole frame");
        Assert.That(whole.Json().GetProperty("results")[0].GetProperty("face").GetProperty("mode").GetString(),
            Is.EqualTo("none"));
    }

    [Test]
    public void AVideoWithoutAFace_FailsAlone_AndTheOthersAreScored()
    {
        Require();
        string bars = _h.PathOf("testsrc.mp4"), face = FaceVideo("face.mp4", 16);
        Ffmpeg.Generate(bars, "testsrc=size=320x240:rate=25", 20);
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", bars, face);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        var errors = run.StderrLines.Where(l => l.Contains("error")).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain("testsrc.mp4: no face found in any of its 20 frames"));
        Assert.That(run.Stdout, Does.Contain("face.mp4"), "the other video is scored");
        CliAssert.NoStackTrace(run);
    }

    [Test]
    public void AFaceThatLeavesTheFrame_IsAnErrorWithTheShare()
    {
        Require();
        // The face in 5 of 32 frames: 27 frames of wall, more than MaxGap, so most sampled frames have no face.
        string video = FaceVideo("leaves.mp4", 32, faceFrames: 5);
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", video);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Stderr, Does.Match(@"leaves\.mp4: the face is missing from \d+ of 16 sampled frames "
            + @"\(\d+%, limit 50%\)"), run.ToString());
        var lenient = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2",
            "--max-missing", "1", video);
        Assert.That(lenient.ExitCode, Is.Zero, "--max-missing 1 accepts it: " + lenient);
        CliAssert.NoStackTrace(run);
    }

    [Test]
    public void AVideoTooShortForIfdd_SaysHowManyFramesItNeeds()
    {
        Require();
        string video = FaceVideo("short.mp4", 8);
        var run = CliHarness.Run("infer", "--model", "ifdd", "--generated-weights", "--threads", "2", video);
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Stderr, Does.Contain("short.mp4: needs at least 16 frames, has 8"), run.ToString());
    }

    [Test]
    public void AutoOnAFolderOfWholeFrames_WarnsAndSuggestsDetect()
    {
        Require();
        string folder = _h.PathOf("frames");
        Directory.CreateDirectory(folder);
        var photo = MediaInput.ReadFrames(Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg"), 480)[0];
        for (int i = 0; i < 3; i++) ImageEncoder.WritePng(photo, Path.Combine(folder, $"{i}.png"));
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", folder);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stderr, Does.Contain("do not look like face crops").And.Contain("--face detect"),
            run.ToString());
        var detect = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2",
            "--face", "detect", folder);
        Assert.That(detect.ExitCode, Is.Zero, detect.ToString());
        Assert.That(detect.Stderr, Does.Not.Contain("do not look like face crops"));
    }

    [Test]
    public void AutoChecksOnlyUntilThreeFoldersLookLikeCrops()
    {
        Require();
        var photo = MediaInput.ReadFrames(Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg"))[0];
        // A 400-pixel square around the middle woman's face (about 300 pixels wide): a face crop.
        var crop = Dfer.Faces.FaceCrop.Cut(photo, new Dfer.Faces.CropSquare((int)(photo.Width * 0.55) - 200,
            (int)(photo.Height * 0.24) - 200, 400));
        var whole = PilResize.Resize(photo, 480, 338, ResizeFilter.Bilinear);
        var folders = new List<string>();
        foreach (var (name, image) in new[] { ("a", crop), ("b", crop), ("c", crop), ("d", whole) })
        {
            string folder = _h.PathOf(name);
            Directory.CreateDirectory(folder);
            for (int i = 0; i < 2; i++) ImageEncoder.WritePng(image, Path.Combine(folder, $"{i}.png"));
            folders.Add(folder);
        }
        var run = CliHarness.Run(["infer", "--model", "m3dfel", "--generated-weights", "--threads", "2",
            .. folders]);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stderr, Does.Not.Contain("do not look like face crops"),
            "three crop folders first: the fourth is not checked");
        var alone = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", folders[3]);
        Assert.That(alone.Stderr, Does.Contain("do not look like face crops"), "checked on its own");
    }

    [Test]
    public void AllFaces_ScoresEveryTrack_WithItsOwnBoxes()
    {
        Require();
        // demo/sample3.jpg has three women side by side; 20 still frames of the whole photo at 640 pixels.
        var photo = MediaInput.ReadFrames(Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg"), 640)[0];
        string video = _h.PathOf("three.mp4");
        Ffmpeg.Encode(video, Enumerable.Repeat(photo, 20).ToList(), "-c:v", "libx264", "-crf", "14", "-pix_fmt",
            "yuv420p");
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", "--format",
            "json", "--all-faces", video);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var results = run.Json().GetProperty("results").EnumerateArray().ToList();
        Assert.That(results, Has.Count.EqualTo(3), run.Stdout);
        var centres = results.Select(r => r.GetProperty("face").GetProperty("boxes")[0])
            .Select(b => b.GetProperty("x").GetDouble() + b.GetProperty("width").GetDouble() / 2).Order().ToList();
        Assert.That(centres[0], Is.LessThan(640 * 0.4));
        Assert.That(centres[2], Is.GreaterThan(640 * 0.75));
        Assert.That(results.Select(r => r.GetProperty("face").GetProperty("track").GetInt32()).Distinct().Count(),
            Is.EqualTo(3));
        var logits = results.Select(r => CliAssert.Floats(r.GetProperty("logits"))).ToList();
        Assert.That(logits[0], Is.Not.EqualTo(logits[1]), "each track is scored on its own crops");
        var main = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--threads", "2", "--format",
            "json", video);
        Assert.That(main.Json().GetProperty("results").GetArrayLength(), Is.EqualTo(1), "without it: the main face");
    }

    [TestCase("--face", "maybe", "--face maybe: use auto, detect or none")]
    [TestCase("--detector", "yolo", "unknown face detector 'yolo'")]
    [TestCase("--face-margin", "-1", "--face-margin -1: at least 0")]
    [TestCase("--max-missing", "nan", "--max-missing nan: not a number")]
    public void BadFaceOptions_AreUsageErrors(string option, string value, string message)
    {
        var run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "a.mp4", option, value);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain(message), run.ToString());
    }
}

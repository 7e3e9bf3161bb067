using System.Text.Json;
using Dfer.Backends.Cpu;
using Dfer.Cli;
using Dfer.Media;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Tests.Media;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer preprocess</c> and <c>dfer infer</c> on frame folders and video files.</summary>
[TestFixture]
public class MediaCommandTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private static string Frames => MediaFixtures.PathOf("frames");

    /// <summary>The M3DFEL input for the 20-frame fixture by the real Pillow pipeline: frames int(20*i/16), resized by
    /// Pillow, /255.</summary>
    private static float[] PillowClip()
    {
        RgbImage[] resized = MediaFixtures.ExpectedResized();
        Assert.That(resized, Has.Length.EqualTo(20));
        return MediaFixtures.TimeChannel(Enumerable.Range(0, 16).Select(i => resized[20 * i / 16]).ToArray());
    }

    private static ClipResult Score(float[] clip)
    {
        using var backend = new CpuBackend();
        using var session = new Session(CliHarness.Model, CliHarness.Model.GenerateWeights(1), backend);
        return session.Run(clip, 1, "pillow clip")[0];
    }

    [Test]
    public void Preprocess_FrameFolder_WritesExactlyThePillowPipelinesTensor()
    {
        string output = _files.PathOf("clip.npy");
        CliRun run = CliHarness.Run("preprocess", "--model", "m3dfel", Frames, "--output", output);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("[1, 16, 3, 112, 112]"));
        var (data, shape) = Npy.ReadFloat32(output);
        Assert.That(shape, Is.EqualTo(new[] { 1, 16, 3, 112, 112 }));
        float[] expected = PillowClip();
        int bad = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != data[i], -1);
        Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" : $"element {bad}: Pillow {expected[bad]}, dfer {data[bad]}");
    }

    [Test]
    public void Preprocess_Jittered_DiffersFromDeterministic_AndRepeatsForOneSeed()
    {
        string a = _files.PathOf("a.npy"), b = _files.PathOf("b.npy"), c = _files.PathOf("c.npy");
        Assert.That(CliHarness.Run("preprocess", "--model", "m3dfel", Frames, "--output", a, "--jitter-seed",
            "3").ExitCode, Is.Zero);
        Assert.That(CliHarness.Run("preprocess", "--model", "m3dfel", Frames, "--output", b, "--jitter-seed",
            "3").ExitCode, Is.Zero);
        Assert.That(CliHarness.Run("preprocess", "--model", "m3dfel", Frames, "--output", c).ExitCode, Is.Zero);
        Assert.That(Npy.ReadFloat32(a).Data, Is.EqualTo(Npy.ReadFloat32(b).Data));
        Assert.That(Npy.ReadFloat32(a).Data, Is.Not.EqualTo(Npy.ReadFloat32(c).Data));
    }

    [Test]
    public void Preprocess_EmptyFolder_IsOneLineNamingIt()
    {
        string empty = _files.PathOf("empty");
        Directory.CreateDirectory(empty);
        CliRun run = CliHarness.Run("preprocess", "--model", "m3dfel", empty, "--output", _files.PathOf("x.npy"));
        CliAssert.FailsWith(run, ExitCodes.Usage, empty, "empty");
        Assert.That(File.Exists(_files.PathOf("x.npy")), Is.False);
    }

    [Test]
    public void Infer_FrameFolderAndLosslessVideo_ScoreLikeThePillowTensor()
    {
        Ffmpeg.Require();
        // The fixture frames, decoded, as a lossless video: decoding it must give the same clip.
        string video = _files.PathOf("clip.mkv");
        var frames = Directory.GetFiles(Frames, "*.jpg").Order(StringComparer.Ordinal).Select(ImageDecoder.Decode)
            .ToList();
        Ffmpeg.Encode(video, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");

        // --face none: the whole frames, as the Pillow tensor has them (auto would crop the face of the video file).
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json",
            "--face", "none", Frames, video);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        ClipResult expected = Score(PillowClip());
        var results = run.Json().GetProperty("results").EnumerateArray().ToList();
        Assert.That(results.Select(r => r.GetProperty("input").GetString()), Is.EqualTo(new[] { Frames, video }));
        foreach (JsonElement r in results)
        {
            Assert.That(r.GetProperty("clips").GetInt32(), Is.EqualTo(1));
            Assert.That(r.TryGetProperty("index", out _), Is.False, "a video has no clip index");
            Assert.That(CliAssert.Floats(r.GetProperty("logits")), Is.EqualTo(expected.Logits).Within(1e-6f));
            Assert.That(r.GetProperty("label").GetString(), Is.EqualTo(expected.Label));
        }
    }

    [Test]
    public void Infer_UndecodableVideoBesideAGoodFolder_ExitsOne_WithTheGoodResult()
    {
        Ffmpeg.Require();
        string garbage = _files.PathOf("broken.mp4");
        File.WriteAllBytes(garbage,
            new DeterministicRandom(TestSeed.Use(5)).Uniform(4096, 0f, 255f).Select(v => (byte)v).ToArray());

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json", garbage,
            Frames);

        CliAssert.FailsWith(run, ExitCodes.InputFailed, garbage, "");
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("results").GetArrayLength(), Is.EqualTo(1));
        Assert.That(json.GetProperty("errors")[0].GetProperty("input").GetString(), Is.EqualTo(garbage));
    }

    [Test]
    public void Infer_UnknownFileKind_IsOneLine()
    {
        string text = _files.PathOf("notes.txt");
        File.WriteAllText(text, "hello");
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", text);
        CliAssert.FailsWith(run, ExitCodes.InputFailed, text, "not an input Dfer reads");
    }
}

using System.Text.Json;
using Dfer.Backends.Cpu;
using Dfer.Cli;
using Dfer.Media;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Tests.Media;

namespace Dfer.Tests.Cli;

/// <summary>
/// <c>dfer infer --model rdfer</c>: clips, the key frames it looked at (indices into the 64 clip frames, and for a
/// frame folder its source frame numbers), the class names, the synopsis note, and <c>--classes ferv39k</c>.
/// </summary>
[TestFixture]
[NonParallelizable]
public class RdferCommandTests
{
    private CliHarness _files = null!;
    private static readonly IModel Model = ModelRegistry.Get("rdfer");
    private static int ClipLength => Model.ClipShape.Aggregate(1, (a, b) => a * b);

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    [Test]
    public void Json_HasKeyFramesClassesAndTheSessionsScores()
    {
        float[] clips = new DeterministicRandom(TestSeed.Use(31)).Uniform(2L * ClipLength, 0, 1);
        string input = _files.PathOf("two.npy");
        Npy.WriteFloat32(input, clips, [2, .. Model.ClipShape]);

        CliRun run = CliHarness.Run("infer", "--model", "rdfer", "--generated-weights", "--batch", "2", "--format",
            "json", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("model").GetString(), Is.EqualTo("rdfer"));
        Assert.That(json.GetProperty("classes").EnumerateArray().Select(c => c.GetString()),
            Is.EqualTo(EmotionClasses.Seven));
        Assert.That(json.GetProperty("sampling").GetString(),
            Does.Contain("0,4,8,12,16,21,25,29,33,37,42,46,50,54,58,63").And.Contain("offsets"));
        ClipResult[] expected;
        using (var backend = new CpuBackend())
        using (var session = new Session(Model, Model.GenerateWeights(1), backend))
            expected = session.Run(clips, 2, input);
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results, Has.Count.EqualTo(2));
        for (int b = 0; b < 2; b++)
        {
            Assert.That(CliAssert.Floats(results[b].GetProperty("logits")),
                Is.EqualTo(expected[b].Logits).Within(1e-6f));
            int[] keys = results[b].GetProperty("key_frames").EnumerateArray().Select(k => k.GetInt32()).ToArray();
            Assert.That(keys, Is.EqualTo(expected[b].KeyFrames));
            Assert.That(keys, Has.Length.EqualTo(16));
            Assert.That(results[b].TryGetProperty("key_frames_source", out _), Is.False, ".npy clips have no source");
        }
    }

    [Test]
    public void FrameFolder_KeyFramesSourceAreTheSampledFrameNumbers()
    {
        string folder = MediaFixtures.PathOf("frames");
        CliRun run = CliHarness.Run("infer", "--model", "rdfer", "--generated-weights", "--format", "json", folder);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement r = run.Json().GetProperty("results")[0];
        int[] keys = r.GetProperty("key_frames").EnumerateArray().Select(k => k.GetInt32()).ToArray();
        int[] source = r.GetProperty("key_frames_source").EnumerateArray().Select(k => k.GetInt32()).ToArray();
        // 20 frames spread over 64: clip frame i is source frame floor(20·i/64).
        int frames = Directory.GetFiles(folder, "*.jpg").Length;
        Assert.That(source, Is.EqualTo(keys.Select(k => k < 0 ? -1 : frames * k / 64)));
    }

    [Test]
    public void Table_ShowsKeyFrames_AndFerv39kNamesTheClassesItsWay()
    {
        float[] clip = new DeterministicRandom(TestSeed.Use(32)).Uniform(ClipLength, 0, 1);
        string input = _files.PathOf("one.npy");
        Npy.WriteFloat32(input, clip, Model.ClipShape);

        CliRun dfew = CliHarness.Run("infer", "--model", "rdfer", "--generated-weights", input);
        CliRun ferv = CliHarness.Run("infer", "--model", "rdfer", "--generated-weights", "--classes", "ferv39k",
            "--format", "json", input);

        Assert.That(dfew.ExitCode, Is.EqualTo(ExitCodes.Ok), dfew.ToString());
        string[] lines = dfew.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Contain("key frames"));
        Assert.That(dfew.Stderr, Does.Contain("rdfer: synopsis frames 0,4,8,"), "the table run says how it sampled");
        Assert.That(ferv.ExitCode, Is.EqualTo(ExitCodes.Ok), ferv.ToString());
        JsonElement json = ferv.Json();
        Assert.That(json.GetProperty("classes").EnumerateArray().Select(c => c.GetString()),
            Is.EqualTo(EmotionClasses.Ferv39k));
        float[] p = CliAssert.Floats(json.GetProperty("results")[0].GetProperty("probabilities"));
        Assert.That(json.GetProperty("results")[0].GetProperty("label").GetString(),
            Is.EqualTo(EmotionClasses.Ferv39k[Array.IndexOf(p, p.Max())]));
        Assert.That(lines[1], Does.Contain(EmotionClasses.Seven[Array.IndexOf(p, p.Max())]),
            "the same output index, named in DFEW's order");
    }

    [Test]
    public void UnknownClassOrder_IsAUsageError()
    {
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--classes", "affectnet",
            "x.npy");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--classes affectnet"));
    }
}

using System.Text.Json;
using Dfer.Backends.Cpu;
using Dfer.Cli;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

[TestFixture]
public class InferCommandTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    [Test]
    public void Json_WithGeneratedWeights_MatchesADirectSessionRun()
    {
        float[] clips = CliHarness.Clips(2, seed: 11);
        string input = _files.WriteClips("two.npy", clips);

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--batch", "2", "--format",
            "json", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("generated weights").And.Contain("meaningless"),
            "the user is told the scores mean nothing");
        JsonElement json = run.Json();
        IModel model = CliHarness.Model;
        StateDict weights = model.GenerateWeights(1);
        Assert.That(json.GetProperty("model").GetString(), Is.EqualTo("m3dfel"));
        Assert.That(json.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
        Assert.That(json.GetProperty("weights").GetString(), Is.EqualTo(weights.Source));
        Assert.That(json.GetProperty("errors").GetArrayLength(), Is.Zero);

        ClipResult[] expected;
        using (var backend = new CpuBackend())
        using (var session = new Session(model, weights, backend))
            expected = session.Run(clips, 2, input);

        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results, Has.Count.EqualTo(2));
        for (int b = 0; b < 2; b++)
        {
            JsonElement r = results[b];
            Assert.That(r.GetProperty("input").GetString(), Is.EqualTo(input));
            Assert.That(r.GetProperty("index").GetInt32(), Is.EqualTo(b));
            float[] logits = CliAssert.Floats(r.GetProperty("logits"));
            float[] probabilities = CliAssert.Floats(r.GetProperty("probabilities"));
            Assert.That(logits, Has.Length.EqualTo(7));
            Assert.That(probabilities, Has.Length.EqualTo(7));
            Assert.That(probabilities.Sum(), Is.EqualTo(1f).Within(1e-5f));
            int argmax = Array.IndexOf(probabilities, probabilities.Max());
            Assert.That(r.GetProperty("label").GetString(), Is.EqualTo(EmotionClasses.Seven[argmax]));
            Assert.That(logits, Is.EqualTo(expected[b].Logits).Within(1e-6f), $"clip {b}");
            Assert.That(probabilities, Is.EqualTo(expected[b].Probabilities).Within(1e-6f), $"clip {b}");
        }
    }

    [Test]
    public void Table_HasAHeaderAndOneLinePerClip()
    {
        string input = _files.WriteClips("one.npy", CliHarness.Clips(1, seed: 12));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        string[] lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), run.ToString());
        Assert.That(lines[0], Does.StartWith("input"));
        foreach (string name in EmotionClasses.Seven) Assert.That(lines[0], Does.Contain(name));
        Assert.That(lines[1], Does.StartWith(input));
    }

    [Test]
    public void SafetensorsWeights_WithAndWithoutModulePrefix_GiveIdenticalResults()
    {
        StateDict weights = CliHarness.Model.GenerateWeights(3);
        string plain = _files.WriteCheckpoint("m3dfel.safetensors", weights);
        string prefixed = _files.WriteCheckpoint("m3dfel-dataparallel.safetensors", weights, prefix: "module.");
        string input = _files.WriteClips("one.npy", CliHarness.Clips(1, seed: 13));

        CliRun a = CliHarness.Run("infer", "--model", "m3dfel", "--weights", plain, "--format", "json", input);
        CliRun b = CliHarness.Run("infer", "--model", "m3dfel", "--weights", prefixed, "--format", "json", input);

        Assert.That(a.ExitCode, Is.EqualTo(ExitCodes.Ok), a.ToString());
        Assert.That(b.ExitCode, Is.EqualTo(ExitCodes.Ok), b.ToString());
        Assert.That(a.Stderr, Does.Not.Contain("generated"), "real weights bring no warning");
        Assert.That(a.Json().GetProperty("weights").GetString(), Is.EqualTo(plain));
        Assert.That(b.Json().GetProperty("weights").GetString(), Is.EqualTo(prefixed));
        JsonElement ra = a.Json().GetProperty("results")[0], rb = b.Json().GetProperty("results")[0];
        Assert.That(CliAssert.Floats(rb.GetProperty("logits")), Is.EqualTo(CliAssert.Floats(ra.GetProperty("logits"))));
        Assert.That(CliAssert.Floats(rb.GetProperty("probabilities")),
            Is.EqualTo(CliAssert.Floats(ra.GetProperty("probabilities"))));
        Assert.That(rb.GetProperty("label").GetString(), Is.EqualTo(ra.GetProperty("label").GetString()));
    }

    [Test]
    public void MissingWeightsFile_ExitsTwo()
    {
        string input = _files.WriteClips("one.npy", CliHarness.Clips(1, seed: 14));
        string weights = _files.PathOf("absent.safetensors");

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", weights, "--format", "json", input);

        CliAssert.FailsWith(run, ExitCodes.Usage, "absent.safetensors", "no such file");
        Assert.That(run.Stdout, Is.Empty, "nothing ran, so there is no result");
    }

    [Test]
    public void TruncatedSafetensors_ExitsTwo()
    {
        string weights = _files.WriteCheckpoint("cut.safetensors", CliHarness.Model.GenerateWeights(3));
        using (var stream = new FileStream(weights, FileMode.Open, FileAccess.Write))
            stream.SetLength(stream.Length / 2);
        string input = _files.WriteClips("one.npy", CliHarness.Clips(1, seed: 15));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", weights, input);

        CliAssert.FailsWith(run, ExitCodes.Usage, "cut.safetensors", "past the end");
    }

    [Test]
    public void WeightsOfAnotherModel_ExitTwo()
    {
        string weights = _files.PathOf("bert.safetensors");
        SafetensorsWriter.WriteFloat32(weights, new (string, long[], float[])[]
        {
            ("encoder.layer.0.attention.self.query.weight", new long[] { 4, 4 }, new float[16]),
            ("encoder.layer.0.attention.self.query.bias", new long[] { 4 }, new float[4]),
            ("pooler.dense.weight", new long[] { 4, 4 }, new float[16]),
        });
        string input = _files.WriteClips("one.npy", CliHarness.Clips(1, seed: 16));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", weights, input);

        CliAssert.FailsWith(run, ExitCodes.Usage, "bert.safetensors", "not M3DFEL weights");
    }

    [Test]
    public void Float64Input_FailsThatFile()
    {
        string input = _files.WriteFloat64Npy("double.npy", new[] { 1, 16, 3, 112, 112 });

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json", input);

        CliAssert.FailsWith(run, ExitCodes.InputFailed, "double.npy", "float64");
        JsonElement errors = run.Json().GetProperty("errors");
        Assert.That(errors.GetArrayLength(), Is.EqualTo(1));
        Assert.That(errors[0].GetProperty("input").GetString(), Is.EqualTo(input));
        Assert.That(errors[0].GetProperty("error").GetString(), Does.Contain("float64"));
    }

    [Test]
    public void WrongShape_FailsThatFile()
    {
        string input = _files.PathOf("small.npy");
        Npy.WriteFloat32(input, new float[2 * 16 * 3 * 64 * 64], new[] { 2, 16, 3, 64, 64 });

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", input);

        CliAssert.FailsWith(run, ExitCodes.InputFailed, "small.npy",
            "shape [2, 16, 3, 64, 64] is not [B, 16, 3, 112, 112]");
    }

    [Test]
    public void NaNInSecondClip_NamesClipOne_EvenWhenBatchesSplitTheFile()
    {
        float[] clips = CliHarness.Clips(2, seed: 17);
        clips[CliHarness.ClipLength + 1000] = float.NaN;
        string input = _files.WriteClips("nan.npy", clips);

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--batch", "1", "--format",
            "json", input);

        CliAssert.FailsWith(run, ExitCodes.InputFailed, "nan.npy", "clip 1");
        Assert.That(run.Json().GetProperty("results").GetArrayLength(), Is.Zero,
            "a bad file contributes no partial results");
    }

    [Test]
    public void OneBadAndOneGoodInput_ExitOne_WithTheGoodResults()
    {
        string bad = _files.PathOf("missing.npy");
        string good = _files.WriteClips("good.npy", CliHarness.Clips(1, seed: 18));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json", bad, good);

        CliAssert.FailsWith(run, ExitCodes.InputFailed, "missing.npy", "no such file");
        JsonElement json = run.Json();
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results, Has.Count.EqualTo(1));
        Assert.That(results[0].GetProperty("input").GetString(), Is.EqualTo(good));
        Assert.That(json.GetProperty("errors")[0].GetProperty("input").GetString(), Is.EqualTo(bad));
    }

    [Test]
    public void ValuesOutsideUnitRange_WarnOnce_AndStillScore()
    {
        float[] clips = CliHarness.Clips(1, seed: 19);
        for (int i = 0; i < clips.Length; i++) clips[i] *= 255f;
        string input = _files.WriteClips("pixels.npy", clips);

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        var warnings = run.StderrLines.Where(l => l.Contains("pixels.npy") && l.Contains("outside [0, 1]")).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), run.ToString());
        Assert.That(run.Json().GetProperty("results").GetArrayLength(), Is.EqualTo(1));
    }
}

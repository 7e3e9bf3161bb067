using System.Security.Cryptography;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Models;
using Dfer.Tests.Media;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary>
/// Scores that cannot be trusted are never reported as results, and results files never mix runs: weights that
/// cannot be right are refused at load, NaN logits fail their input (and eval does not count it), and --resume only
/// continues a results file made by the same run.
/// </summary>
[TestFixture]
public class ResultsIntegrityTests
{
    private const string NonFinite =
        "the model produced non-finite logits ({0}) for this input; check the weights and the input range";

    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private static void CopyFrames(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        foreach (string f in Directory.GetFiles(MediaFixtures.PathOf("frames"), "*.jpg").Order(StringComparer.Ordinal)
            .Take(count))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
    }

    private static string[] Errors(CliRun run)
        => run.StderrLines.Where(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)).ToArray();

    /// <summary>M3DFEL's generated weights, changed by <paramref name="edit"/>, as a safetensors file.</summary>
    private string Weights(string name, Action<StateDict> edit)
    {
        StateDict weights = CliHarness.Model.GenerateWeights(1);
        edit(weights);
        return _files.WriteCheckpoint(name, weights);
    }

    [Test]
    public void WeightsWithANegativeRunningVariance_AreRefusedAtLoad_NamingTheTensor()
    {
        string weights = Weights("w.safetensors", w => w["features.2.1.conv2.1.running_var"].Data[5] = -1f);
        string clips = _files.WriteClips("clips.npy", CliHarness.Clips(1, 3));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", weights, clips);

        CliAssert.FailsWith(run, ExitCodes.Usage, weights, "");
        Assert.That(Errors(run)[0], Is.EqualTo($"dfer: error: {weights}: 1 tensor holds weights that cannot be right: "
            + "'features.2.1.conv2.1.running_var' (1 negative BatchNorm running variance of 128, first -1 at index 5); "
            + "the checkpoint is broken (did training diverge?)"));
        Assert.That(run.Stdout, Is.Empty);
    }

    /// <summary>Clips of 3e38 make NaN logits: that input is an error, the other input of the command is still
    /// scored.</summary>
    [Test]
    public void AnInputThatMakesNaNLogits_FailsAlone_AndTheOtherIsScored()
    {
        string good = _files.WriteClips("good.npy", CliHarness.Clips(1, 3));
        string huge = _files.WriteClips("huge.npy", Enumerable.Repeat(3e38f, CliHarness.ClipLength).ToArray());

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", huge, good, "--format",
            "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        Assert.That(Errors(run), Is.EqualTo(new[] { $"dfer: error: {huge}: {string.Format(NonFinite, "NaN")}" }),
            run.ToString());
        CliAssert.NoStackTrace(run);
        JsonElement json = run.Json();
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.That(results.Select(r => r.GetProperty("input").GetString()), Is.EqualTo(new[] { good }));
        Assert.That(CliAssert.Floats(results[0].GetProperty("logits")).All(float.IsFinite), Is.True);
        Assert.That(json.GetProperty("errors")[0].GetProperty("input").GetString(), Is.EqualTo(huge));
        Assert.That(run.Stdout, Does.Not.Contain("null"), "no NaN is written as a score");
    }

    /// <summary>Weights that load but overflow (a classifier of 3e38) fail every video; eval counts none of
    /// them.</summary>
    [Test]
    public void Eval_DoesNotCountVideosWithNonFiniteLogits()
    {
        string weights = Weights("overflow.safetensors", w => w["fc.weight"].Data.AsSpan().Fill(3e38f));
        string root = _files.PathOf("dfew");
        CopyFrames(Path.Combine(root, "Clip", "clip_224x224", "00001"), 4);
        CopyFrames(Path.Combine(root, "Clip", "clip_224x224", "00002"), 6);
        string csv = _files.PathOf("split.csv");
        File.WriteAllText(csv, "1,1\n2,2\n");
        string output = _files.PathOf("scores.jsonl");

        CliRun run = CliHarness.Run("eval", "--model", "m3dfel", "--weights", weights, "--dataset", csv, "--root", root,
            "--output", output, "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        string[] errors = Errors(run);
        Assert.That(errors, Has.Length.EqualTo(2), run.ToString());
        Assert.That(errors[0],
            Does.StartWith(
            $"dfer: error: {Path.Combine(root, "Clip", "clip_224x224", "00001")}: the model produced non-finite logits "
            + "("), run.ToString());
        Assert.That(errors[0], Does.EndWith(") for this input; check the weights and the input range"));
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("evaluated").GetInt32(), Is.EqualTo(0));
        Assert.That(json.GetProperty("failed").GetInt32(), Is.EqualTo(2));
        Assert.That(json.GetProperty("confusion").EnumerateArray().Sum(r => r.EnumerateArray().Sum(v => v.GetInt32())),
            Is.EqualTo(0));
        string[] lines = File.ReadAllLines(output);
        Assert.That(lines.Skip(1).Select(l => JsonDocument.Parse(l).RootElement.TryGetProperty("error", out _)),
            Is.EqualTo(new[] { true, true }));
    }

    /// <summary>A dataset of one short frame folder, scored once into <paramref name="output"/> with generated
    /// weights.</summary>
    private (string Dataset, string Output) ScoredOnce(string outputName)
    {
        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "1"), 3);
        string output = _files.PathOf(outputName);
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir, "--output",
            output);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        return (dir, output);
    }

    /// <summary>Runs <paramref name="args"/> expecting one error line and exit 2, and the results file left byte for
    /// byte as it was.</summary>
    private static string RefusedUntouched(string output, params string[] args)
    {
        byte[] before = File.ReadAllBytes(output);
        CliRun run = CliHarness.Run(args);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        string[] errors = Errors(run);
        Assert.That(errors, Has.Length.EqualTo(1), run.ToString());
        CliAssert.NoStackTrace(run);
        Assert.That(File.ReadAllBytes(output), Is.EqualTo(before), "the results file is left as it was");
        Assert.That(File.Exists(output + ".tmp"), Is.False);
        return errors[0];
    }

    [Test]
    public void TheResultsFile_RecordsWhatMadeIt()
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        JsonElement meta = JsonDocument.Parse(File.ReadAllLines(output)[0]).RootElement;
        Assert.That(meta.GetProperty("dfer_results").GetInt32(), Is.EqualTo(1));
        Assert.That(meta.GetProperty("model").GetString(), Is.EqualTo("m3dfel"));
        Assert.That(meta.GetProperty("weights").GetString(), Is.EqualTo("generated"));
        Assert.That(meta.GetProperty("weights_sha256").GetString(), Is.EqualTo("generated (seed 1)"));
        Assert.That(meta.GetProperty("precision").GetString(), Is.EqualTo("fp32"));
        Assert.That(meta.GetProperty("classes").EnumerateArray().Select(c => c.GetString()),
            Is.EqualTo(EmotionClasses.Seven));
        Assert.That(meta.GetProperty("clip_size").GetInt32(), Is.EqualTo(112));
        Assert.That(meta.GetProperty("jitter_seed").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(meta.GetProperty("dataset").GetString(), Is.EqualTo(Path.GetFullPath(dir)));
        Assert.That(meta.GetProperty("dfer_version").GetString(), Is.Not.Empty);
    }

    [Test]
    public void Resume_WithOtherWeights_IsRefused_NamingTheHash()
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        string weights = Weights("w.safetensors", _ => { });
        string hash;
        using (var f = File.OpenRead(weights)) hash = Convert.ToHexStringLower(SHA256.HashData(f));

        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--weights", weights, "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(error,
            Is.EqualTo($"dfer: error: {output}: was made by a different run (weights_sha256 \"generated (seed 1)\" "
                + $"there, \"{hash}\" now); "
            + "resume with the same settings, or pass --overwrite to start over"));
    }

    [Test]
    public void Resume_WithAnotherModel_IsRefused_NamingTheModel()
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        string error = RefusedUntouched(output, "infer", "--model", "ifdd", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");
        Assert.That(error,
            Does.StartWith(
            $"dfer: error: {output}: was made by a different run (model \"m3dfel\" there, \"ifdd\" now; "));
        Assert.That(error, Does.Contain("; clip_size 112 there, 224 now"));
    }

    /// <summary>Precision and jitter seed, each as if the first run had used another (fp32 is all the cpu backend
    /// computes in).</summary>
    [TestCase("\"precision\":\"fp32\"", "\"precision\":\"bf16\"", "precision \"bf16\" there, \"fp32\" now")]
    [TestCase("\"jitter_seed\":null", "\"jitter_seed\":7", "jitter_seed 7 there, null now")]
    [TestCase("\"clip_frames\":16", "\"clip_frames\":8", "clip_frames 8 there, 16 now")]
    public void Resume_WithOtherSettings_IsRefused_NamingTheField(string recorded, string changed, string difference)
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        string[] lines = File.ReadAllLines(output);
        Assert.That(lines[0], Does.Contain(recorded));
        lines[0] = lines[0].Replace(recorded, changed);
        File.WriteAllLines(output, lines);

        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(error,
            Is.EqualTo($"dfer: error: {output}: was made by a different run ({difference}); resume with the same "
                + "settings, or pass --overwrite to start over"));
    }

    /// <summary>
    /// A one-line JSON file that is not a results file is not taken for a results file cut short (which would be
    /// replaced): refused, byte for byte untouched, with or without its line break.
    /// </summary>
    [TestCase("{\"name\": \"my notes\"}\n")]
    [TestCase("{\"name\": \"my notes\"}")]
    [TestCase("{\"nam")]
    public void Resume_OnAFileThatIsNotAResultsFile_IsRefused_AndLeavesItUntouched(string content)
    {
        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "1"), 3);
        string output = _files.PathOf("notes.json");
        File.WriteAllText(output, content);

        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(error, Does.StartWith($"dfer: error: {output}: not a dfer results file: line 1 is "));
        Assert.That(error, Does.EndWith("; dfer neither resumes from it nor replaces it without --overwrite"));
    }

    [Test]
    public void Resume_OnAResultsFileFromBeforeTheMetadata_IsRefused_SayingHowToGoOn()
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        File.WriteAllLines(output, File.ReadAllLines(output).Skip(1));

        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(error,
            Is.EqualTo($"dfer: error: {output}: has no '{{\"dfer_results\": ...}}' first line: it comes from a dfer "
                + "that did not record "
            + "what made its rows, so --resume cannot tell whether they match this run; pass --overwrite to start "
            + "over"));
        CliRun overwritten = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--overwrite");
        Assert.That(overwritten.ExitCode, Is.EqualTo(ExitCodes.Ok), overwritten.ToString());
        Assert.That(File.ReadAllLines(output)[0], Does.StartWith("{\"dfer_results\":1,"));
    }

    /// <summary>A CSV keeps its metadata in OUT.csv.meta.json: resumed from when it matches, refused when it is
    /// missing.</summary>
    [Test]
    public void CsvResults_KeepTheirMetadataBeside_AndResumeByIt()
    {
        var (dir, output) = ScoredOnce("r.csv");
        string sidecar = output + ".meta.json";
        Assert.That(File.ReadAllLines(output)[0], Does.StartWith("video,input,target,label,clips,p_happy,"),
            "the CSV itself is plain");
        Assert.That(JsonDocument.Parse(File.ReadAllText(sidecar)).RootElement.GetProperty("model").GetString(),
            Is.EqualTo("m3dfel"));

        CliRun resumed = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");
        Assert.That(resumed.ExitCode, Is.EqualTo(ExitCodes.Ok), resumed.ToString());
        Assert.That(resumed.Stderr, Does.Contain("1 of 1 videos scored, 1 from the earlier run"));
        Assert.That(File.ReadAllLines(output), Has.Length.EqualTo(2));

        File.Delete(sidecar);
        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");
        Assert.That(error,
            Is.EqualTo($"dfer: error: {output}: has no r.csv.meta.json beside it: it comes from a dfer that did not "
                + "record "
            + "what made its rows, so --resume cannot tell whether they match this run; pass --overwrite to start "
            + "over"));
    }

    /// <summary>Rows of videos the dataset no longer lists are not carried into this run's results (nor its
    /// metrics).</summary>
    [Test]
    public void Resume_WithRowsOfVideosNotInTheDataset_IsRefused()
    {
        var (dir, output) = ScoredOnce("r.jsonl");
        string[] lines = File.ReadAllLines(output);
        File.WriteAllLines(output, [lines[0], lines[1].Replace("\"video\":\"1\"", "\"video\":\"gone\"")]);

        string error = RefusedUntouched(output, "infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(error,
            Is.EqualTo($"dfer: error: {output}: has rows of 1 video that --dataset does not list (first 'gone'): the "
                + "dataset changed since; "
            + "resume with the same dataset, or pass --overwrite to start over"));
    }
}

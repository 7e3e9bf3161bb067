using Dfer.Cli;
using Dfer.Models;
using Dfer.Tests.Weights;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer convert</c>, and <c>--weights</c> taking a PyTorch checkpoint directly.</summary>
[TestFixture]
public class ConvertCommandTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private static string Fixture(string name)
        => Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "torch", name);

    /// <summary>M3DFEL's generated weights as the official training script saves them: {"state_dict":
    /// {"module.…"}}.</summary>
    private string TrainingCheckpoint(out StateDict weights)
    {
        weights = CliHarness.Model.GenerateWeights(4);
        string path = _files.PathOf("best.pth");
        StateDict w = weights;
        TorchSaveWriter.Write(path, w.Names.Select(n => (n, w[n].Data, w[n].Shape)), wrapperKey: "state_dict",
            modulePrefix: true);
        return path;
    }

    [Test]
    public void Convert_TrainingCheckpoint_WritesTheStrippedStateDict()
    {
        string pth = TrainingCheckpoint(out StateDict weights);
        string output = _files.PathOf("w.safetensors");

        CliRun run = CliHarness.Run("convert", pth, output);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("wrote 145 tensors"));
        StateDict converted = StateDict.Load(output);
        Assert.That(converted.Names, Is.EquivalentTo(weights.Names));
        foreach (string name in weights.Names)
            Assert.That(converted[name].Data, Is.EqualTo(weights[name].Data), name);
    }

    [Test]
    public void Infer_WithPth_MatchesInferWithItsSafetensors()
    {
        string pth = TrainingCheckpoint(out _);
        string safetensors = _files.PathOf("w.safetensors");
        Assert.That(CliHarness.Run("convert", pth, safetensors).ExitCode, Is.Zero);
        string clip = _files.WriteClips("c.npy", CliHarness.Clips(1, seed: 8));

        CliRun a = CliHarness.Run("infer", "--model", "m3dfel", "--weights", pth, "--format", "json", clip);
        CliRun b = CliHarness.Run("infer", "--model", "m3dfel", "--weights", safetensors, "--format", "json", clip);

        Assert.That(a.ExitCode, Is.EqualTo(ExitCodes.Ok), a.ToString());
        Assert.That(b.ExitCode, Is.EqualTo(ExitCodes.Ok), b.ToString());
        Assert.That(a.Stderr, Does.Not.Contain("generated weights"));
        float[] la = CliAssert.Floats(a.Json().GetProperty("results")[0].GetProperty("logits"));
        float[] lb = CliAssert.Floats(b.Json().GetProperty("results")[0].GetProperty("logits"));
        Assert.That(la, Is.EqualTo(lb));
    }

    [Test]
    public void Convert_HostilePickle_IsRefusedByName_AndNothingRuns()
    {
        string evil = Fixture("evil_os_system.pth");
        string output = _files.PathOf("evil.safetensors");
        CliRun run = CliHarness.Run("convert", evil, output);
        CliAssert.FailsWith(run, ExitCodes.Usage, evil, "os.system");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void Infer_WithHostileWeights_ExitsTwo()
    {
        string evil = Fixture("evil_builtin_eval.pth");
        string clip = _files.WriteClips("c.npy", CliHarness.Clips(1, seed: 2));
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", evil, clip);
        CliAssert.FailsWith(run, ExitCodes.Usage, evil, "eval");
    }

    [Test]
    public void Convert_UnknownKey_ListsTheEntries()
    {
        string pth = TrainingCheckpoint(out _);
        CliRun run = CliHarness.Run("convert", pth, _files.PathOf("w.safetensors"), "--key", "ema");
        CliAssert.FailsWith(run, ExitCodes.Usage, pth, "state_dict");
    }

    [Test]
    public void Convert_NotACheckpoint_AndWrongOutputName_AreUsageErrors()
    {
        string npy = _files.WriteClips("c.npy", CliHarness.Clips(1, seed: 2));
        CliAssert.FailsWith(CliHarness.Run("convert", npy, _files.PathOf("w.safetensors")), ExitCodes.Usage, npy,
            "not a PyTorch");
        string pth = TrainingCheckpoint(out _);
        CliAssert.FailsWith(CliHarness.Run("convert", pth, _files.PathOf("w.bin")), ExitCodes.Usage, "w.bin",
            ".safetensors");
    }
}

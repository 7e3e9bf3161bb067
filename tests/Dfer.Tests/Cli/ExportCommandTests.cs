using Dfer.Cli;
using Dfer.Tests.Onnx;
using Dfer.Tests.Weights;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer export --onnx</c>: the file it writes loads in ONNX Runtime, and bad options are one
/// line.</summary>
[TestFixture]
public class ExportCommandTests
{
    private CliHarness _files = null!;

    [SetUp] public void SetUp() => _files = new CliHarness();

    [TearDown] public void TearDown() => _files.Dispose();

    [Test]
    public void Export_CheckpointAtFixedBatch_WritesAFileOnnxRuntimeRuns()
    {
        StateDict weights = CliHarness.Model.GenerateWeights(5);
        string pth = _files.PathOf("best.pth");
        TorchSaveWriter.Write(pth, weights.Names.Select(n => (n, weights[n].Data, weights[n].Shape)),
            wrapperKey: "state_dict", modulePrefix: true);
        string output = _files.PathOf("m3dfel.onnx");

        CliRun run = CliHarness.Run("export", "--onnx", output, "--model", "m3dfel", "--weights", pth, "--batch", "1");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain($"wrote m3dfel (").And.Contain("opset 17, batch 1;")
            .And.Contain("input clips [1, 16, 3, 112, 112]").And.Contain($"to {output}"));
        using var session = OnnxRuntimeSupport.Open(output);
        Assert.That(session.InputMetadata["clips"].Dimensions, Is.EqualTo(new[] { 1, 16, 3, 112, 112 }));
        var outputs = OnnxRuntimeSupport.Run(session, ("clips", CliHarness.Clips(1, seed: 6), [1, 16, 3, 112, 112]));
        Assert.That(outputs["logits"], Has.Length.EqualTo(7));
        Assert.That(outputs["probabilities"].Sum(), Is.EqualTo(1f).Within(1e-5f));
        Assert.That(session.ModelMetadata.CustomMetadataMap["weights"], Does.Contain("best.pth"));
    }

    [Test]
    public void Export_GeneratedWeights_IsDynamicByDefault_AndWarns()
    {
        string output = _files.PathOf("m.onnx");

        CliRun run = CliHarness.Run("export", "--onnx", output, "--model", "m3dfel", "--generated-weights",
            "--opset", "21");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("warning: no --weights given"));
        using var session = OnnxRuntimeSupport.Open(output);
        Assert.That(session.InputMetadata["clips"].SymbolicDimensions[0], Is.EqualTo("batch"));
        Assert.That(session.OutputMetadata["probabilities"].Dimensions, Is.EqualTo(new[] { -1, 7 }));
    }

    [Test]
    public void Export_Ifdd_WritesAFileWithItsInputAndOutputs()
    {
        string output = _files.PathOf("ifdd.onnx");

        CliRun run = CliHarness.Run("export", "--onnx", output, "--model", "ifdd", "--generated-weights");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("wrote ifdd (").And.Contain("input clips [dynamic, 16, 3, 224, 224]"));
        using var session = OnnxRuntimeSupport.Open(output);
        Assert.That(session.InputMetadata["clips"].Dimensions, Is.EqualTo(new[] { -1, 16, 3, 224, 224 }));
        Assert.That(session.OutputMetadata["logits"].Dimensions, Is.EqualTo(new[] { -1, 7 }));
        Assert.That(session.OutputMetadata["probabilities"].Dimensions, Is.EqualTo(new[] { -1, 7 }));
    }

    [TestCase(new[] { "--model", "m3dfel", "--generated-weights" }, "--onnx")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "m3dfel" }, "--model m3dfel needs --weights FILE")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "m3dfel", "--generated-weights", "--weights", "w.pth" },
        "--generated-weights and --weights exclude each other")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "m3dfel", "--generated-weights", "--batch", "0" },
        "--batch 0: not 'dynamic' or an integer from 1 to 1024")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "m3dfel", "--generated-weights", "--batch", "any" },
        "--batch any: not 'dynamic' or an integer from 1 to 1024")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "m3dfel", "--generated-weights", "--opset", "13" }, "--opset 13")]
    [TestCase(new[] { "--onnx", "out.pb", "--model", "m3dfel", "--generated-weights" },
        "--onnx out.pb: name a .onnx file")]
    [TestCase(new[] { "--onnx", "OUT", "--model", "nosuch", "--generated-weights" }, "--model nosuch: unknown model")]
    public void BadOptions_AreOneLine_AndWriteNothing(string[] options, string phrase)
    {
        string output = _files.PathOf("out.onnx");
        string[] args = ["export", .. options.Select(o => o == "OUT" ? output : o)];

        CliRun run = CliHarness.Run(args);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain(phrase), run.ToString());
        CliAssert.NoStackTrace(run);
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void Export_IntoAMissingFolder_IsOneLine()
    {
        string output = Path.Combine(_files.PathOf("nope"), "m.onnx");
        CliRun run = CliHarness.Run("export", "--onnx", output, "--model", "m3dfel", "--generated-weights");
        CliAssert.FailsWith(run, ExitCodes.Usage, output, "no such folder");
    }
}

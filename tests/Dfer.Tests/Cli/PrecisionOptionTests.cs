using System.Text.Json;
using Dfer.Cli;
using Dfer.Ops;
using Dfer.Runtime;
using Dfer.Tests.Media;

namespace Dfer.Tests.Cli;

/// <summary>
/// <c>--precision fp32|tf32|bf16|fp16</c> on infer, eval, bench, profile and validate: spelling is
/// checked when parsing, a backend that computes in fp32 only refuses the others in one line (exit 2),
/// and the JSON of a run says what it computed in.
/// </summary>
[TestFixture]
public class PrecisionOptionTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private const string CpuBf16Refusal =
        "--precision bf16: backend cpu computes in fp32 only; reduced precision runs on --backend cuda";

    /// <summary>A one-video DFEW root and split, for eval.</summary>
    private (string Csv, string Root) OneVideoSplit()
    {
        string root = _files.PathOf("dfew");
        string folder = Path.Combine(root, "Clip", "clip_224x224", "00007");
        Directory.CreateDirectory(folder);
        foreach (string f in Directory.GetFiles(MediaFixtures.PathOf("frames"), "*.jpg").Order(StringComparer.Ordinal)
            .Take(4))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        string csv = _files.PathOf("split.csv");
        File.WriteAllText(csv, "7,2\n");
        return (csv, root);
    }

    private string[] Command(string command)
    {
        switch (command)
        {
            case "infer":
                return ["infer", "--model", "m3dfel", "--generated-weights",
                    _files.WriteClips("one.npy", CliHarness.Clips(1, 5))];
            case "infer-dataset":
                {
                    var (_, root) = OneVideoSplit();
                    return ["infer", "--model", "m3dfel", "--generated-weights", "--dataset",
                        Path.Combine(root, "Clip", "clip_224x224")];
                }
            case "eval":
                {
                    var (csv, root) = OneVideoSplit();
                    return ["eval", "--model", "m3dfel", "--generated-weights", "--dataset", csv, "--root", root];
                }
            case "bench":
                return ["bench", "--model", "m3dfel", "--batch", "1", "--warmup", "0", "--repeats", "1"];
            case "profile":
                return ["profile", "--model", "m3dfel", "--warmup", "0", "--repeats", "1"];
            case "validate":
                return ["validate", "--op", "softmax"];
            default:
                throw new ArgumentException(command);
        }
    }

    [TestCase("infer")]
    [TestCase("infer-dataset")]
    [TestCase("eval")]
    [TestCase("bench")]
    [TestCase("profile")]
    [TestCase("validate")]
    public void CpuWithBf16_IsRefusedInOneLine_WithExitCode2(string command)
    {
        CliRun run = CliHarness.Run([.. Command(command), "--backend", "cpu", "--precision", "bf16"]);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Is.EqualTo(new[] { "dfer: error: " + CpuBf16Refusal }), run.ToString());
        Assert.That(run.Stdout, Is.Empty, "nothing ran");
        CliAssert.NoStackTrace(run);
    }

    [TestCase("ilgpu-cpu", "fp16", "backend ilgpu-cpu computes in fp32 only")]
    [TestCase("reference", "tf32", "backend reference computes in float64 only")]
    public void OtherFp32Backends_RefuseReducedPrecisionToo(string backend, string precision, string phrase)
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--backend", backend, "--precision", precision,
            "--batch", "1");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr,
            Does.Contain($"--precision {precision}: {phrase}; reduced precision runs on --backend cuda"));
        CliAssert.NoStackTrace(run);
    }

    [TestCase("bench")]
    [TestCase("infer")]
    [TestCase("validate")]
    [TestCase("profile")]
    public void UnknownSpelling_IsAParseError_ListingTheModes(string command)
    {
        CliRun run = CliHarness.Run([.. Command(command), "--precision", "fp8"]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("unknown precision 'fp8': use fp32, tf32, bf16 or fp16"));
        CliAssert.NoStackTrace(run);
    }

    [TestCase("bench")]
    [TestCase("infer")]
    [TestCase("eval")]
    [TestCase("profile")]
    [TestCase("validate")]
    public void EveryCommandThatRuns_ListsTheOptionInItsHelp(string command)
    {
        CliRun run = CliHarness.Run(command.Split('-')[0], "--help");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout, Does.Contain("--precision <fp32|tf32|bf16|fp16>"));
    }

    /// <summary>Spelled in any case, or as the short aliases; fp32 is the default and what the cpu backend
    /// reports.</summary>
    [TestCase(null)]
    [TestCase("FP32")]
    [TestCase("f32")]
    public void Bench_Json_SaysThePrecision(string? spelling)
    {
        string[] args = [.. Command("bench"), "--format", "json"];
        if (spelling is not null) args = [.. args, "--precision", spelling];
        CliRun run = CliHarness.Run(args);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("precision").GetString(), Is.EqualTo("fp32"));
        Assert.That(json.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
    }

    [Test]
    public void Infer_Json_SaysThePrecision()
    {
        CliRun run = CliHarness.Run([.. Command("infer"), "--precision", "fp32", "--format", "json"]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Json().GetProperty("precision").GetString(), Is.EqualTo("fp32"));
    }

    [Test]
    public void Eval_Json_SaysBackendAndPrecision()
    {
        CliRun run = CliHarness.Run([.. Command("eval"), "--precision", "fp32", "--format", "json"]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
        Assert.That(json.GetProperty("precision").GetString(), Is.EqualTo("fp32"));
    }

    [Test]
    public void Profile_Json_SaysThePrecision()
    {
        CliRun run = CliHarness.Run([.. Command("profile"), "--precision", "fp32", "--format", "json"]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Json().GetProperty("precision").GetString(), Is.EqualTo("fp32"));
    }

    /// <summary>
    /// validate --backend all --precision bf16: cuda (skipped here, or run on a GPU) takes bf16 and is
    /// judged by bf16's per-op tolerance; cpu and ilgpu-cpu stay fp32 and are judged as fp32.
    /// </summary>
    [Test]
    public void Validate_All_Bf16_JudgesCudaByBf16AndTheOthersByFp32()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "all", "--op", "softmax", "--precision", "bf16",
            "--format", "json", "--seed", "5");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("precision").GetString(), Is.EqualTo("bf16"));
        var precisionOf = json.GetProperty("backends").EnumerateArray()
            .ToDictionary(b => b.GetProperty("name").GetString()!, b => b.GetProperty("precision").GetString());
        Assert.That(precisionOf, Is.EquivalentTo(new Dictionary<string, string?>
        {
            ["cpu"] = "fp32",
            ["ilgpu-cpu"] = "fp32",
            ["ilgpu-cuda"] = "fp32",
            ["cuda"] = "bf16",
        }));
        foreach (JsonElement c in json.GetProperty("cases").EnumerateArray())
        {
            Tolerance expected = c.GetProperty("backend").GetString() == "cuda" ? Tolerance.Bf16 : Tolerance.Fp32;
            JsonElement tol = c.GetProperty("tolerance");
            Assert.That((tol.GetProperty("nmse").GetDouble(), tol.GetProperty("atol").GetDouble(),
                tol.GetProperty("rtol").GetDouble()),
                Is.EqualTo((expected.Nmse, expected.Atol, expected.Rtol)), c.ToString());
        }
        Assert.That(json.GetProperty("cases").EnumerateArray()
            .Count(c => c.GetProperty("backend").GetString() == "cpu"),
            Is.EqualTo(OpCases.For("softmax").Count));
    }

    [Test]
    public void Validate_Table_SaysWhatCudaComputesIn()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "all", "--op", "softmax", "--precision", "fp16");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout, Does.Contain("precision: cuda in fp16").And.Contain("the other backends in fp32"));
    }

    [Test]
    public void Validate_Model_Json_CarriesEachBackendsPrecisionToleranceAndAgreement()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "cpu", "--op", "softmax", "--model", "m3dfel", "--size",
            "24", "--batch", "2",
            "--precision", "fp32", "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement baseline = run.Json().GetProperty("model").GetProperty("backends")[0];
        Assert.That(baseline.GetProperty("precision").GetString(), Is.EqualTo("fp32"));
        Assert.That(baseline.GetProperty("agreement").GetDouble(), Is.EqualTo(1.0));
        Assert.That(baseline.GetProperty("tolerance").GetProperty("max_abs_logit").GetDouble(),
            Is.EqualTo(ModelTolerance.Fp32.MaxAbsLogit));
        Assert.That(baseline.GetProperty("tolerance").GetProperty("min_agreement").GetDouble(), Is.EqualTo(1.0));
        Assert.That(baseline.GetProperty("passed").GetBoolean());
    }
}

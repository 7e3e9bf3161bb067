using System.Text.Json;
using Dfer.Backends;
using Dfer.Cli;
using Dfer.Ops;

namespace Dfer.Tests.Cli;

[TestFixture]
public class ValidateCommandTests
{
    private static List<JsonElement> Cases(JsonElement json) => json.GetProperty("cases").EnumerateArray().ToList();

    [Test]
    public void CpuBackend_EveryOpCasePasses_AsJson()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "cpu", "--format", "json", "--seed", "17");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("seed").GetString(), Is.EqualTo("17"));
        var cases = Cases(json);
        Assert.That(cases, Has.Count.EqualTo(OpCases.All(17).Count()));
        Assert.That(cases.Select(c => c.GetProperty("op").GetString()).Distinct(),
            Is.EquivalentTo(OpRegistry.All.Select(k => k.Name)), "every op is covered");
        foreach (JsonElement c in cases)
        {
            Assert.That(c.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
            Assert.That(c.GetProperty("status").GetString(), Is.EqualTo("pass"), c.ToString());
            Assert.That(c.GetProperty("nmse").GetDouble(),
                Is.LessThanOrEqualTo(c.GetProperty("tolerance").GetProperty("nmse").GetDouble()));
            Assert.That(c.GetProperty("case").GetString(), Does.StartWith(c.GetProperty("op").GetString() + "("));
        }
    }

    [Test]
    public void IlgpuCpu_OneOp_PassesAndTheTableSaysSo()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "ilgpu-cpu", "--op", "conv3d");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        var line = run.Stdout.Split('\n').Single(l => l.StartsWith("conv3d"));
        Assert.That(line,
            Does.Contain("ilgpu-cpu").And.Contain(
            $"{OpCases.For("conv3d").Count}/{OpCases.For("conv3d").Count}").And.EndWith("pass"));
    }

    [TestCase("ilgpu-cuda", "softmax")]
    [TestCase("cuda", "conv3d")]
    public void BackendWithoutADevice_IsSkippedWithItsReason_NeverPassed(string backend, string op)
    {
        BackendInfo cuda = BackendRegistry.List().Single(b => b.Name == backend);
        if (cuda.Available) Assert.Ignore($"this machine can run {backend}: it runs for real here");
        CliRun run = CliHarness.Run("validate", "--backend", backend, "--op", op, "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("backends")[0].GetProperty("reason").GetString(),
            Is.EqualTo(cuda.UnavailableReason));
        Assert.That(Cases(json).Select(c => c.GetProperty("status").GetString()), Is.All.EqualTo("skipped"));
    }

    [Test]
    public void WholeModel_LogitsOfEachBackendAgainstCpu()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "cpu", "--op", "softmax", "--model", "m3dfel", "--size",
            "24", "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement model = run.Json().GetProperty("model");
        Assert.That(model.GetProperty("input").GetString(), Is.EqualTo("[1, 16, 3, 24, 24]"));
        JsonElement baseline = model.GetProperty("backends")[0];
        Assert.That(baseline.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
        Assert.That(CliAssert.Floats(baseline.GetProperty("logits")), Has.Length.EqualTo(7));
    }

    /// <summary>The optional PyTorch oracle: the test output holds Dfer.Reference.dll next to dfer.dll, as a user's
    /// build would.</summary>
    [Test]
    public void TorchReference_JudgesTheKernelsToo()
    {
        CliRun run = CliHarness.Run("validate", "--backend", "cpu", "--op", "layernorm", "--reference", "torch",
            "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("reference").GetString(), Does.StartWith("PyTorch operators (libtorch 2.10"));
        Assert.That(Cases(json).Select(c => c.GetProperty("status").GetString()), Is.All.EqualTo("pass"));
    }

    [Test]
    public void TorchReference_Missing_SaysHowToBuildIt()
    {
        string? saved = Environment.GetEnvironmentVariable("DFER_REFERENCE");
        Environment.SetEnvironmentVariable("DFER_REFERENCE", "/nonexistent/Dfer.Reference.dll");
        try
        {
            CliRun run = CliHarness.Run("validate", "--backend", "cpu", "--reference", "torch");
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
            Assert.That(run.Stderr, Does.Contain("dotnet build src/Dfer.Reference"));
        }
        finally { Environment.SetEnvironmentVariable("DFER_REFERENCE", saved); }
    }

    [TestCase("--backend", "tpu", "not a backend")]
    [TestCase("--op", "conv4d", "unknown op")]
    [TestCase("--size", "32", "--model")]
    public void BadArguments_AreUsageErrors(string option, string value, string phrase)
    {
        CliRun run = CliHarness.Run("validate", option, value);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain(phrase));
        CliAssert.NoStackTrace(run);
    }
}

using System.Text.Json;
using Dfer.Cli;
using Dfer.Cli.Commands;
using Dfer.Devices.Cpu;

namespace Dfer.Tests.Cli;

[TestFixture]
public class CommandLineTests
{
    [Test]
    public void BenchJson_HasPositiveNumbers()
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--repeats", "1", "--warmup", "0", "--batch", "1",
            "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("model").GetString(), Is.EqualTo("m3dfel"));
        Assert.That(json.GetProperty("backend").GetString(), Is.EqualTo("cpu"));
        Assert.That(json.GetProperty("batch").GetInt32(), Is.EqualTo(1));
        Assert.That(json.GetProperty("repeats").GetInt32(), Is.EqualTo(1));
        Assert.That(json.GetProperty("threads").GetInt32(), Is.Positive);
        foreach (string name in new[] { "clips_per_s", "latency_ms", "gflops_per_s" })
            Assert.That(json.GetProperty(name).GetDouble(), Is.Positive, name);
        Assert.That(json.GetProperty("weights").GetString(), Does.Contain("generated"));
        Assert.That(json.GetProperty("device").GetString(), Is.Not.Empty);
        Assert.That(run.Stderr, Does.Contain("generated weights"));
    }

    [Test]
    public void Median_OfOddAndEvenCounts()
    {
        Assert.That(BenchCommand.Median(new[] { 5.0, 1.0, 3.0 }), Is.EqualTo(3.0));
        Assert.That(BenchCommand.Median(new[] { 4.0, 1.0, 3.0, 2.0 }), Is.EqualTo(2.5));
    }

    [Test]
    public void DevicesJson_ListsCpu()
    {
        CliRun run = CliHarness.Run("devices", "--format", "json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement json = run.Json();
        var cpu = json.GetProperty("backends").EnumerateArray().Single(b => b.GetProperty("name").GetString() == "cpu");
        Assert.That(cpu.GetProperty("available").GetBoolean(), Is.True);
        JsonElement machine = json.GetProperty("machine");
        Assert.That(machine.GetProperty("logical_cores").GetInt32(), Is.EqualTo(Environment.ProcessorCount));
        Assert.That(machine.GetProperty("simd").TryGetProperty("avx2", out _), Is.True);
        JsonElement isa = machine.GetProperty("cpu_isa");
        Assert.That(isa.GetProperty("path").GetString(), Is.EqualTo(CpuVariants.Name(CpuVariants.Default.Isa)));
        Assert.That(isa.GetProperty("reason").GetString(), Is.EqualTo(CpuVariants.Default.Reason));
        Assert.That(machine.GetProperty("cpu_kernels").GetString(), Is.EqualTo(CpuContext.Isa));
    }

    [Test]
    public void DevicesTable_ListsEveryBackend()
    {
        CliRun run = CliHarness.Run("devices");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout, Does.Contain("cpu").And.Contain("reference").And.Contain("logical cores"));
    }

    [TestCase("infer")]
    [TestCase("bench")]
    [TestCase("devices")]
    public void Help_WorksForEveryCommand(string command)
    {
        CliRun run = CliHarness.Run(command, "--help");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout, Does.Contain("Usage:").And.Contain("--format"));
        Assert.That(run.Stderr, Is.Empty);
    }

    [Test]
    public void UnknownOption_IsAUsageError()
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--repeat", "3");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--repeat"));
        Assert.That(run.Stdout, Is.Empty);
        CliAssert.NoStackTrace(run);
    }

    [Test]
    public void MistypedInferOption_IsNotTakenForAnInputFile()
    {
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--batchsize", "2", "a.npy");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines[0], Is.EqualTo("dfer: error: --batchsize: not an option of 'dfer infer'"));
    }

    [Test]
    public void MissingRequiredOption_IsAUsageError()
    {
        CliRun run = CliHarness.Run("infer", "a.npy");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--model"));
        CliAssert.NoStackTrace(run);
    }

    [TestCase("--batch", "0")]
    [TestCase("--format", "xml")]
    [TestCase("--threads", "-1")]
    public void BadOptionValue_IsAUsageError(string option, string value)
    {
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", option, value, "a.npy");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain(option == "--format" ? "xml" : option));
    }

    [Test]
    public void UnknownModel_ExitsTwo_NamingTheAvailableOnes()
    {
        CliRun run = CliHarness.Run("bench", "--model", "resnet");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { "dfer: error: --model resnet: unknown model; available: m3dfel, ifdd, rdfer "
                + "(expression: 'dfer infer' and 'dfer features' only)", "Run 'dfer bench --help' for usage." }));
    }

    [Test]
    public void UnknownBackend_ExitsTwo()
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--backend", "tpu");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines.Single(), Does.StartWith("dfer: error: unknown backend 'tpu'"));
    }

    [Test]
    public void BackendThatCannotRunHere_ExitsTwo_SayingWhy()
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--backend", "cuda");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines.Single(), Does.StartWith("dfer: error: backend cuda cannot run here: "));
    }
}

using System.CommandLine;
using Dfer.Cli;
using Dfer.Cli.Commands;
using Dfer.Devices.Cpu;
using Dfer.Tests.Weights;

namespace Dfer.Tests.Cli;

/// <summary>
/// Numeric options: every bad value is one line naming the option and the text, exit code 2, and no
/// accepted value crashes (issue 21).
/// </summary>
[TestFixture]
public class NumericOptionTests
{
    [TestCase(new[] { "bench", "--model", "m3dfel", "--threads", "100000" },
        "--threads 100000: at most 1024 (this machine has {cores} cores)")]
    [TestCase(new[] { "bench", "--model", "m3dfel", "--threads", "-1" }, "--threads -1: at least 0")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--batch", "abc", "a.npy" }, "--batch abc: not an integer")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--batch", "99999999999", "a.npy" },
        "--batch 99999999999: at most 1024")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--batch", "0", "a.npy" }, "--batch 0: at least 1")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--batch", "1.5", "a.npy" }, "--batch 1.5: not an integer")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--jitter-seed", "x", "a.npy" }, "--jitter-seed x: not an integer")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--jitter-seed", "9223372036854775808", "a.npy" },
        "--jitter-seed 9223372036854775808: at most 9223372036854775807")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--dataset", "d", "--decode-threads", "65" },
        "--decode-threads 65: at most 64")]
    [TestCase(new[] { "infer", "--model", "expression", "--window", "0", "a.mp4" }, "--window 0: at least 1")]
    [TestCase(new[] { "infer", "--model", "expression", "--window", "1001", "a.mp4" }, "--window 1001: at most 1000")]
    [TestCase(new[] { "infer", "--model", "expression", "--detector-size", "33", "a.mp4" },
        "--detector-size 33: not a multiple of 32")]
    [TestCase(new[] { "infer", "--model", "expression", "--detector-size", "2048", "a.mp4" },
        "--detector-size 2048: at most 1024")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--detector-score", "0", "a.mp4" },
        "--detector-score 0: at least 0.01")]
    [TestCase(new[] { "bench", "--detector", "ssd", "--detector-score", "1" }, "--detector-score 1: at most 0.99")]
    [TestCase(new[] { "bench", "--model", "m3dfel", "--warmup", "1001" }, "--warmup 1001: at most 1000")]
    [TestCase(new[] { "bench", "--model", "m3dfel", "--repeats", "0" }, "--repeats 0: at least 1")]
    [TestCase(new[] { "profile", "--model", "m3dfel", "--top", "1001" }, "--top 1001: at most 1000")]
    [TestCase(new[] { "validate", "--seed", "-3" }, "--seed -3: at least 0")]
    [TestCase(new[] { "validate", "--model", "m3dfel", "--size", "8" }, "--size 8: at least 16")]
    [TestCase(new[] { "validate", "--model", "m3dfel", "--size", "113" },
        "--size 113: at most 112 (m3dfel's own size; smaller is quicker)")]
    public void BadValue_IsOneLine_ExitTwo(string[] args, string expected)
    {
        CliRun run = CliHarness.Run(args);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines, Is.EqualTo(new[]
        {
            "dfer: error: " + expected.Replace("{cores}", Environment.ProcessorCount.ToString()),
            $"Run 'dfer {args[0]} --help' for usage.",
        }), run.ToString());
        Assert.That(run.Stdout, Is.Empty);
    }

    /// <summary>The mechanism, not a list: every integer option of every command says "not an integer", never a .NET
    /// type.</summary>
    [Test]
    public void EveryNumericOption_OfEveryCommand_RejectsTextWithoutTypeNames()
    {
        var numeric = new[] { typeof(int), typeof(int?), typeof(long), typeof(long?), typeof(ulong), typeof(ulong?) };
        RootCommand root = DferCli.BuildRoot(new CliConsole(TextWriter.Null, TextWriter.Null, false));
        int checkedOptions = 0;
        foreach (Command command in root.Subcommands)
            foreach (Option option in command.Options.Where(o => numeric.Contains(o.ValueType)))
            {
                CliRun run = CliHarness.Run(command.Name, option.Name, "abc");
                Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
                Assert.That(run.StderrLines, Does.Contain($"dfer: error: {option.Name} abc: not an integer"),
                    run.ToString());
                Assert.That(run.Stderr, Does.Not.Contain("System."), run.ToString());
                checkedOptions++;
            }
        // threads x7, batch x6, warmup x2, repeats x2, top, window, detector-size x5, detect-every x5, jitter-seed x3,
        // decode-threads x2, seed, size, bench's frames and clips, export's opset, and serve's threads, http-port,
        // grpc-port, max-batch, max-delay-ms, max-queue, max-body-mb, timeout-ms and video-workers.
        Assert.That(checkedOptions, Is.EqualTo(48));
        // The real-valued ones (--face-margin, --max-missing, --detector-score of infer, eval, preprocess and features,
        // bench's --detector-score) say "not a number".
        int reals = 0;
        foreach (Command command in root.Subcommands)
            foreach (Option option in command.Options.Where(o => o.ValueType == typeof(double)))
            {
                CliRun run = CliHarness.Run(command.Name, option.Name, "abc");
                Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
                Assert.That(run.StderrLines, Does.Contain($"dfer: error: {option.Name} abc: not a number"),
                    run.ToString());
                reals++;
            }
        Assert.That(reals, Is.EqualTo(13));
    }

    [Test]
    public void LargestThreadCount_StartsRunsAndStops()
    {
        using var pool = new CpuThreadPool(Limits.MaxThreads);
        var work = new CountingWork(5000);

        pool.Run(work, 5000);

        Assert.That(pool.Threads, Is.EqualTo(1024));
        Assert.That(work.Done, Is.EqualTo(5000));
    }

    [Test]
    public void ThreadPool_BeyondTheBound_IsADferException_NotACrash()
    {
        var ex = Assert.Throws<DferException>(() => new CpuThreadPool(CpuThreadPool.MaxThreads + 1));
        Assert.That(ex!.Message,
            Is.EqualTo($"1025 cpu threads: at most 1024 (this machine has {Environment.ProcessorCount} cores)"));
        Assert.Throws<DferException>(() => new CpuContext(100_000));
    }

    private sealed class CountingWork(int count) : IParallelWork
    {
        private readonly int[] _hits = new int[count];
        public int Done => _hits.Count(h => h == 1);
        public void Execute(int index, int thread) => Interlocked.Increment(ref _hits[index]);
    }
}

/// <summary>System.CommandLine's own errors, reworded and said once each.</summary>
[TestFixture]
public class ParseErrorTests
{
    [Test]
    public void ConvertWithoutArguments_SaysWhatIsMissingOnce()
    {
        CliRun run = CliHarness.Run("convert");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { "dfer: error: convert: missing IN and OUT", "Run 'dfer convert --help' for usage." }));
    }

    [TestCase(new[] { "convert", "a.pth" }, "convert: missing OUT")]
    [TestCase(new[] { "infer", "a.npy" }, "--model NAME: required")]
    [TestCase(new[] { "infer", "--model" }, "--model: needs a value (NAME)")]
    [TestCase(new[] { "bench", "--model", "m3dfel", "--backend", "cpu", "--backend", "cpu" },
        "--backend: given 2 times; give it once")]
    [TestCase(new[] { "bench", "--model", "m3dfel", "--repeat" }, "--repeat: not an option of 'dfer bench'")]
    [TestCase(new[] { "convert", "a.pth", "b.safetensors", "c" }, "c: unexpected argument of 'dfer convert'")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--batchsize", "2", "a.npy" },
        "--batchsize: not an option of 'dfer infer'")]
    [TestCase(new[] { "infer", "--model", "m3dfel", "--format", "xml", "a.npy" },
        "--format xml: not one of table, json")]
    [TestCase(new[] { "validate", "--reference", "numpy" }, "--reference numpy: not one of reference, torch")]
    public void ParseError_IsOneHouseStyleLine(string[] args, string expected)
    {
        CliRun run = CliHarness.Run(args);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { "dfer: error: " + expected, $"Run 'dfer {args[0]} --help' for usage." }),
            run.ToString());
    }

    [Test]
    public void NoCommand_AndUnknownCommand_ListTheCommands()
    {
        const string commands =
            "infer, merge, eval, preprocess, features, convert, export, validate, profile, bench, devices, serve";
        Assert.That(CliHarness.Run().StderrLines[0], Is.EqualTo($"dfer: error: a command is needed: {commands}"));
        CliRun run = CliHarness.Run("convrt");
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { $"dfer: error: convrt: not a command; commands: {commands}",
            "Run 'dfer --help' for usage." }));
    }
}

/// <summary>Model names: one list, with <c>expression</c> wherever models are listed.</summary>
[TestFixture]
public class ModelNameTests
{
    [Test]
    public void InferHelp_ListsEveryModel_AndTheGeneratedWeightsFlag()
    {
        CliRun run = CliHarness.Run("infer", "--help");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout,
            Does.Contain("Model to run: m3dfel, ifdd, rdfer, expression").And.Contain("--generated-weights"));
    }

    [Test]
    public void InferUnknownModel_ListsExpression()
    {
        CliRun run = CliHarness.Run("infer", "--model", "resnet", "a.npy");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines[0],
            Is.EqualTo("dfer: error: --model resnet: unknown model; available: m3dfel, ifdd, rdfer, expression"));
    }

    [TestCase("bench")]
    [TestCase("profile")]
    [TestCase("preprocess")]
    public void OtherCommands_SayWhereExpressionRuns(string command)
    {
        CliRun unknown = CliHarness.Run(command, "--model", "resnet");
        Assert.That(unknown.StderrLines,
            Does.Contain(
            "dfer: error: --model resnet: unknown model; available: m3dfel, ifdd, rdfer (expression: 'dfer infer' "
            + "and 'dfer features' only)"));

        CliRun expression = CliHarness.Run(command, "--model", "expression");
        Assert.That(expression.ExitCode, Is.EqualTo(ExitCodes.Usage), expression.ToString());
        Assert.That(expression.StderrLines,
            Does.Contain(
            "dfer: error: --model expression: the face-api pipeline of 'dfer infer' and 'dfer features' only; this "
            + "command takes m3dfel, ifdd, rdfer"));
    }

    [Test]
    public void ModelNames_AreTheRegistrysAndExpression()
    {
        Assert.That(SharedOptions.ModelNames, Is.EqualTo(new[] { "m3dfel", "ifdd", "rdfer", "expression" }));
    }
}

/// <summary>Scoring with generated weights must be asked for (issue 21, class 7).</summary>
[TestFixture]
public class GeneratedWeightsTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private const string Hint = "dfer: error: --model m3dfel needs --weights FILE (trained weights); to score with "
        + "deterministic generated weights for testing, add --generated-weights";

    [Test]
    public void InferWithoutWeights_ExitsTwo_WithTheHint()
    {
        string input = _files.WriteClips("x.npy", CliHarness.Clips(1, seed: 3));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines, Is.EqualTo(new[] { Hint }));
        Assert.That(run.Stdout, Is.Empty);
    }

    [Test]
    public void InferWithGeneratedWeights_ScoresAndWarns()
    {
        string input = _files.WriteClips("x.npy", CliHarness.Clips(1, seed: 3));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.StderrLines, Has.Length.EqualTo(1));
        Assert.That(run.StderrLines[0],
            Does.StartWith("dfer: warning: no --weights given: using generated weights (seed 1)"));
        Assert.That(run.Stdout, Does.Contain(input));
    }

    [TestCase("infer")]
    [TestCase("eval")]
    public void DatasetRunsWithoutWeights_StopBeforeReadingTheDataset(string command)
    {
        CliRun run = CliHarness.Run(command, "--model", "m3dfel", "--dataset", "no-such.csv", "--root", "r");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines, Is.EqualTo(new[] { Hint }));
    }

    [Test]
    public void GeneratedWeightsAndWeights_ExcludeEachOther()
    {
        CliRun run = CliHarness.Run("infer", "--model", "ifdd", "--generated-weights", "--weights", "w.pth", "a.npy");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { "dfer: error: --generated-weights and --weights exclude each other: the scores come "
                + "from one or the other" }));
    }

    [Test]
    public void Bench_KeepsGeneratedWeightsByDefault()
    {
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--repeats", "1", "--warmup", "0", "--batch", "1",
            "--threads", "2");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain("generated weights"));
    }
}

/// <summary>What reaches a terminal: no raw control characters or escape sequences, lines of bounded length.</summary>
[TestFixture]
public class TerminalOutputTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private const string Red = "\u001b[31m";

    /// <summary>No character a terminal acts on, line ends apart.</summary>
    private static void NoRawControls(string text, string where)
    {
        foreach (char c in text)
            if (c != '\n' && c != '\r')
                Assert.That(SafeText.IsUnsafe(c), Is.False, $"{where} holds U+{(int)c:X4}");
    }

    [TestCase("a\u001b[31mred", @"a\x1b[31mred")]
    [TestCase("osc\u001b]0;title\u0007", @"osc\x1b]0;title\x07")]
    [TestCase("c1\u009b31m", @"c1\x9b31m")]
    [TestCase("bidi\u202egnp.exe", @"bidi\u202egnp.exe")]
    [TestCase("isolate\u2066x\u2069", @"isolate\u2066x\u2069")]
    [TestCase("tab\tcr\rnul\0del\u007f", @"tab\tcr\rnul\x00del\x7f")]
    [TestCase("plain ünïcödé 😀", "plain ünïcödé 😀")]
    public void Escape_MakesEveryControlVisible(string text, string expected)
    {
        Assert.That(SafeText.Escape(text), Is.EqualTo(expected));
    }

    [Test]
    public void Escape_WritesALoneSurrogateAsItsCode()
    {
        // Built here: an attribute argument would not carry a lone surrogate intact.
        Assert.That(SafeText.Escape("lone " + (char)0xD800 + " high, " + (char)0xDC00 + " low"),
            Is.EqualTo(@"lone \ud800 high, \udc00 low"));
    }

    [Test]
    public void Line_CutsAtTheCap_SayingHowMuchWasLeftOut()
    {
        string text = new string('a', 600);

        string line = SafeText.Line(text, 100);

        Assert.That(line, Is.EqualTo(new string('a', 68) + "… (532 more characters)"));
        Assert.That(SafeText.Line(new string('b', 100), 100), Is.EqualTo(new string('b', 100)));
        Assert.That(SafeText.Line(new string('\u001b', 30), 100),
            Is.EqualTo(string.Concat(Enumerable.Repeat(@"\x1b", 17)) + "… (13 more characters)"));
    }

    [Test]
    public void ErrorWithEscapesFromTheUser_IsPrintedEscaped()
    {
        string pth = _files.PathOf("w.pth");
        TorchSaveWriter.Write(pth, [("w", new float[] { 1 }, new long[] { 1 })], wrapperKey: "state_dict");

        CliRun run = CliHarness.Run("convert", pth, _files.PathOf(Red + "out.safetensors"), "--key", Red
            + "ema\u009b2J");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Not.Contain("\u001b").And.Not.Contain("\u009b"));
        Assert.That(run.StderrLines, Has.Length.EqualTo(1));
        Assert.That(run.Stderr, Does.Contain("[31mema"), "the key is shown, escaped");
        NoRawControls(run.Stderr, "stderr");
    }

    [Test]
    public void CheckpointKeyWithAnEscape_IsPrintedEscaped()
    {
        string checkpoint = _files.WriteCheckpoint("w.safetensors", CliHarness.Model.GenerateWeights(2), prefix: Red);
        string input = _files.WriteClips("x.npy", CliHarness.Clips(1, seed: 3));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--weights", checkpoint, input);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines, Has.Length.EqualTo(1), run.ToString());
        Assert.That(run.Stderr, Does.Not.Contain("\u001b"));
        Assert.That(run.Stderr, Does.Contain("[31m"), "the name is shown, escaped");
    }

    [Test]
    public void ConsoleError_EscapesAndCaps_TheOnePlaceEveryDiagnosticPasses()
    {
        var stderr = new StringWriter();
        var console = new CliConsole(TextWriter.Null, stderr, showProgress: true);

        console.Error($"key {Red}x\u202e: bad");
        console.Warning("w\u001b]8;;http://x\u001b\\");
        console.Progress("p\u0085q");
        console.Summary("s\nt");

        Assert.That(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            @"dfer: error: key \x1b[31mx\u202e: bad",
            @"dfer: warning: w\x1b]8;;http://x\x1b\",
            @"dfer: p\x85q",
            "dfer: s t",
        }));
    }

    [Test]
    public void ElevenMegabyteMessage_IsOneCappedLine()
    {
        string huge = _files.PathOf(new string('x', 11 * 1024 * 1024) + ".pth");

        CliRun run = CliHarness.Run("convert", huge, _files.PathOf("w.safetensors"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage),
            run.ToString().Length > 2000 ? run.ToString()[..2000] : run.ToString());
        Assert.That(run.StderrLines, Has.Length.EqualTo(1));
        string line = run.StderrLines[0];
        Assert.That(line.Length, Is.LessThanOrEqualTo(CliConsole.MaxLineLength));
        Assert.That(line, Does.StartWith("dfer: error: ").And.Match(@"… \(\d+ more characters\)$"));
    }

    [Test]
    public void TableAndJson_CarryNoRawEscapes_InInputNames()
    {
        string input = _files.WriteClips($"clip{Red}\u202e\u009bx.npy", CliHarness.Clips(1, seed: 3));

        CliRun table = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", input);
        CliRun json = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--format", "json", input);

        Assert.That(table.ExitCode, Is.EqualTo(ExitCodes.Ok), table.ToString());
        Assert.That(table.Stdout, Does.Contain(@"clip\x1b[31m\u202e\x9bx.npy"));
        NoRawControls(table.Stdout, "table");
        Assert.That(json.ExitCode, Is.EqualTo(ExitCodes.Ok), json.ToString());
        // JSON escapes every control character itself; the name, bidi mark included, parses back exactly.
        Assert.That(json.Stdout.Where(char.IsControl).Select(c => (int)c), Is.EqualTo(new[] { '\n' }), "json");
        Assert.That(json.Json().GetProperty("results")[0].GetProperty("input").GetString(), Is.EqualTo(input),
            "JSON keeps the name, escaped");
    }
}

/// <summary>Paths the OS refuses are one line, not an internal error.</summary>
[TestFixture]
public class CliPathTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    [Test]
    public void Convert_FromADirectory_SaysSo()
    {
        CliRun run = CliHarness.Run("convert", _files.Root, _files.PathOf("w.safetensors"));

        Assert.That(run.StderrLines, Is.EqualTo(new[] { $"dfer: error: {_files.Root}: is a directory, not a file" }));
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage));
    }

    [Test]
    public void Convert_ToAPathWithNul_IsAUsageError()
    {
        string pth = _files.PathOf("w.pth");
        TorchSaveWriter.Write(pth, [("w", new float[] { 1 }, new long[] { 1 })]);

        CliRun run = CliHarness.Run("convert", pth, "a\0b.safetensors");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { @"dfer: error: a\x00b.safetensors: not a valid path (it holds a NUL character)" }));
    }

    [Test]
    public void Profile_TraceWithNul_IsAUsageError()
    {
        CliRun run = CliHarness.Run("profile", "--model", "m3dfel", "--trace", "t\0.json");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines,
            Is.EqualTo(new[] { @"dfer: error: t\x00.json: not a valid path (it holds a NUL character)" }));
    }
}

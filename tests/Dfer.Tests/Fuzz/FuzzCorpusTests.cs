using System.Text;
using Dfer.Cli.Datasets;
using Dfer.Fuzz;
using Dfer.Fuzz.SelfTest;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Tests.Weights;
using Dfer.Weights;

namespace Dfer.Tests.Fuzz;

/// <summary>
/// Replays every fuzz target (tests/Dfer.Fuzz, docs/fuzzing.md) in-process, uninstrumented, over its
/// committed corpus and regressions, asserting the fuzzing invariant: the entry point returns or
/// throws a <see cref="DferException"/> with one short line naming the input. A crash the fuzzer
/// finds becomes a test here by copying the input to <c>corpus/TARGET/regressions/</c>.
/// </summary>
/// <remarks>
/// Seeds named <c>valid-*</c> must be accepted, <c>bad-*</c> refused.
/// The generated seeds are rebuilt here and compared with the committed files; after changing
/// <see cref="SeedCorpus"/>, <c>scripts/fuzz.sh seeds</c> rewrites them (this test with DFER_FUZZ_WRITE_SEEDS=1).
/// Inputs listed in <c>corpus/open-findings.txt</c> are findings not fixed yet: Ignored while they still fail.
/// </remarks>
[TestFixture]
[NonParallelizable] // the cases share one workspace, and each target rewrites the same file names
public sealed class FuzzCorpusTests
{
    /// <summary>Guard only, far above any input's real time (milliseconds): a hang fails, not blocks, the
    /// run.</summary>
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    private FuzzWorkspace _workspace = null!;

    [OneTimeSetUp]
    public void CreateWorkspace() => _workspace = FuzzWorkspace.Create();

    [OneTimeTearDown]
    public void RemoveWorkspace() => _workspace.Dispose();

    internal static string CorpusRoot { get; } = FindCorpusRoot();

    private static string FindCorpusRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Dfer.Fuzz", "corpus");
            if (File.Exists(Path.Combine(dir.FullName, "Dfer.sln")) && Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/Dfer.Fuzz/corpus not found above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<FuzzTarget> PublicTargets => FuzzTargets.All.Where(t => !t.Hidden);

    public static IEnumerable<TestCaseData> CorpusInputs()
    {
        foreach (FuzzTarget t in PublicTargets)
        {
            string dir = Path.Combine(CorpusRoot, t.Name);
            if (!Directory.Exists(dir)) continue;
            foreach (string file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Order(StringComparer.Ordinal))
            {
                string relative = Path.GetRelativePath(CorpusRoot, file).Replace('\\', '/');
                yield return new TestCaseData(t.Name, relative).SetName($"Corpus({relative})");
            }
        }
    }

    [TestCaseSource(nameof(CorpusInputs))]
    public void InputKeepsTheInvariant(string targetName, string relative)
    {
        FuzzTarget target = FuzzTargets.Find(targetName)!;
        byte[] input = File.ReadAllBytes(Path.Combine(CorpusRoot, relative));
        var run = Task.Run(() => target.Execute(_workspace, input));
        bool done = Task.WhenAny(run, Task.Delay(Guard)).GetAwaiter().GetResult() == run;
        Assert.That(done, Is.True, $"{relative}: still running after {Guard.TotalSeconds} s (a hang)");
        if (run.IsFaulted)
        {
            Exception ex = run.Exception!.InnerException!;
            if (OpenFindings().TryGetValue(relative, out string? note))
                Assert.Ignore($"open finding ({note}): {ex.GetType().Name}: {ex.Message}");
            Assert.Fail($"{relative}: {ex}");
        }
        FuzzResult result = run.Result;
        string name = Path.GetFileName(relative);
        if (name.StartsWith("valid-", StringComparison.Ordinal))
        {
            Assert.That(result.Rejected, Is.False, $"a valid seed is refused: {result.Message}");
        }
        else if (name.StartsWith("bad-", StringComparison.Ordinal))
        {
            // That the message is one short line naming the input, Execute has checked.
            Assert.That(result.Rejected, Is.True, $"a bad seed is accepted: {result.Message}");
        }
    }

    [Test]
    public void FfprobeSeedsReadAsFfprobeMeantThem()
    {
        FuzzTarget ffprobe = FuzzTargets.Find("ffprobe")!;
        string Run(string seed)
            => ffprobe.Execute(_workspace, File.ReadAllBytes(Path.Combine(CorpusRoot, "ffprobe", seed))).Message;
        Assert.That(Run("valid-mp4.json"), Is.EqualTo("64x48, 5 frames"));
        Assert.That(Run("valid-mpegts-programs.json"), Is.EqualTo("32x24, frame count unknown"));
        Assert.That(Run("valid-matroska-no-count.json"), Is.EqualTo("16x16, frame count unknown"));
        string video = Path.Combine(_workspace.Directory, FuzzTargets.VideoName);
        Assert.That(Run("bad-audio-only.json"),
            Is.EqualTo($"{video}: cannot decode video: no video stream (ffprobe found: audio pcm_s16le in a wav "
                + "container)"));
        Assert.That(Run("bad-old-csv.json"),
            Is.EqualTo($"{video}: cannot decode video: ffprobe's report is not the JSON expected (it starts "
                + "'640,480\\n')"));
    }

    /// <summary>The old CSV probe's findings (an overflowing and a heap-sized frame), as JSON reports: refused before
    /// anything is sized.</summary>
    [Test]
    public void FfprobeOversizeRegressionsAreRefused()
    {
        FuzzTarget ffprobe = FuzzTargets.Find("ffprobe")!;
        string video = Path.Combine(_workspace.Directory, FuzzTargets.VideoName);
        foreach (var (name, width, height) in SeedCorpus.FfprobeOversizeRegressions)
        {
            FuzzResult result = ffprobe.Execute(_workspace,
                File.ReadAllBytes(Path.Combine(CorpusRoot, "ffprobe", "regressions", name)));
            Assert.That(result.Rejected, Is.True, name);
            Assert.That(result.Message,
                Is.EqualTo($"{video}: video frame of {width}x{height} pixels is larger than Dfer's limit of 67108864 "
                    + "pixels (8192x8192); scale it down first"), name);
        }
    }

    /// <summary>
    /// System.Text.Json decodes escapes only when a string or a name is read, and an escaped lone
    /// surrogate then threw InvalidOperationException out of ParseProbe (the fuzzer's finding
    /// ffprobe/regressions/name-escapes-lone-surrogate.json: in a property name, which TryGetProperty decodes).
    /// </summary>
    [TestCase("name-escapes-lone-surrogate.json")]
    [TestCase(null)]
    public void FfprobeEscapedLoneSurrogateIsRefused(string? regression)
    {
        FuzzTarget ffprobe = FuzzTargets.Find("ffprobe")!;
        byte[] input = regression is null
            ? "{\"streams\": [{\"codec_type\": \"audio\", \"codec_name\": \"a\\udc00\"}]}"u8.ToArray()
            : File.ReadAllBytes(Path.Combine(CorpusRoot, "ffprobe", "regressions", regression));
        FuzzResult result = ffprobe.Execute(_workspace, input);
        Assert.That(result.Rejected, Is.True);
        Assert.That(result.Message,
            Is.EqualTo($"{Path.Combine(_workspace.Directory, FuzzTargets.VideoName)}: cannot decode video: "
            + "ffprobe's report holds text that is not valid Unicode (an escaped lone surrogate)"));
    }

    /// <summary>The ffprobe target reads the report as ffprobe's stdout is read: UTF-8, a byte-order mark dropped,
    /// invalid bytes replaced.</summary>
    [Test]
    public void FfprobeTargetDecodesTheReportAsUtf8()
    {
        FuzzTarget ffprobe = FuzzTargets.Find("ffprobe")!;
        byte[] report =
            Encoding.UTF8.GetBytes("{\"streams\": [{\"codec_type\": \"video\", \"width\": 8, \"height\": 6}]}");
        Assert.That(ffprobe.Execute(_workspace, [0xEF, 0xBB, 0xBF, .. report]).Message,
            Is.EqualTo("8x6, frame count unknown"));
        byte[] audio = [.. "{\"streams\": [{\"codec_type\": \"audio\", \"codec_name\": \"a"u8, 0xFF, .. "\"}]}"u8];
        Assert.That(ffprobe.Execute(_workspace, audio).Message,
            Does.EndWith("no video stream (ffprobe found: audio a\uFFFD)"));
    }

    /// <summary>More problems than <see cref="DferException.MaxLines"/>: the lines kept each name the config, and the
    /// last one counts those left out (the regression of a last line "and 7 more problems" naming no file).</summary>
    [Test]
    public void TemporalManyProblemsKeepOneLineEachNamingTheConfig()
    {
        FuzzTarget temporal = FuzzTargets.Find("temporal")!;
        byte[] input = File.ReadAllBytes(Path.Combine(CorpusRoot, "temporal", "regressions",
            SeedCorpus.TemporalManyProblems));
        var ex = Assert.Throws<DferException>(() => temporal.Body(_workspace, input))!;
        string config = Path.Combine(_workspace.Directory, "temporal", FuzzTargets.TemporalConfigName);
        Assert.That(ex.Lines, Has.Count.EqualTo(24));
        Assert.That(ex.Lines, Is.All.StartWith(config + ": unknown field 'x"));
        Assert.That(ex.Lines[0], Does.StartWith(config + ": unknown field 'x0' (the fields are features, heads,"));
        Assert.That(ex.Lines[^1], Does.StartWith(config + ": unknown field 'x23' ("));
        Assert.That(ex.Lines[^1], Does.EndWith(") (and 6 more problems)"));
        Assert.That(temporal.Execute(_workspace, input).Rejected, Is.True);
    }

    /// <summary>"target/relative/path  note" lines of corpus/open-findings.txt ('#' starts a comment).</summary>
    private static Dictionary<string, string> OpenFindings()
    {
        string list = Path.Combine(CorpusRoot, "open-findings.txt");
        var open = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(list)) return open;
        foreach (string line in File.ReadAllLines(list))
        {
            string t = line.Trim();
            if (t.Length == 0 || t.StartsWith('#')) continue;
            int space = t.IndexOfAny([' ', '\t']);
            open[space < 0 ? t : t[..space]] = space < 0 ? "" : t[(space + 1)..].Trim();
        }
        return open;
    }

    [Test]
    public void OpenFindingsNameCommittedRegressions()
    {
        foreach (string relative in OpenFindings().Keys)
        {
            Assert.That(File.Exists(Path.Combine(CorpusRoot, relative)), Is.True,
                $"open-findings.txt lists {relative}, which is not in the corpus");
            Assert.That(relative, Does.Match("^[a-z0-9-]+/regressions/[^/]+$"),
                "open findings are regressions/ inputs");
        }
    }

    [Test]
    public void EveryTargetHasSeedsUnderOneMegabyte()
    {
        foreach (FuzzTarget t in PublicTargets)
        {
            string dir = Path.Combine(CorpusRoot, t.Name);
            Assert.That(Directory.Exists(dir), Is.True, $"no corpus for {t.Name}");
            var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => new FileInfo(f))
                .ToList();
            Assert.That(files.Count(f => f.Name.StartsWith("valid-", StringComparison.Ordinal)),
                Is.GreaterThanOrEqualTo(2), $"{t.Name}: valid seeds");
            Assert.That(files.Count(f => f.Name.StartsWith("bad-", StringComparison.Ordinal)),
                Is.GreaterThanOrEqualTo(2), $"{t.Name}: bad seeds");
            Assert.That(files.Sum(f => f.Length), Is.LessThan(1 << 20), $"{t.Name}: corpus size");
        }
    }

    // ---- the invariant itself ---------------------------------------------------------------------

    [Test]
    public void SelfTestMagicInputIsACrash()
    {
        FuzzTarget selftest = FuzzTargets.Find("selftest")!;
        Assert.That(() => selftest.Execute(_workspace, Encoding.ASCII.GetBytes(SelfTestTarget.Magic)),
            Throws.InstanceOf<InvalidOperationException>().With.Message.Contains("magic input DFER"));
        Assert.That(selftest.Execute(_workspace, "DFEQ"u8).Rejected, Is.False);
        Assert.That(selftest.Execute(_workspace, "DFERX"u8).Message, Is.EqualTo("not a self-test input"));
    }

    [Test]
    public void RefusalOverTwoLinesIsAFinding()
    {
        // DferException cleans its message (one line, capped), so the harness's own check is a second
        // line of defence: it still catches a raw message that slipped past.
        FuzzTarget selftest = FuzzTargets.Find("selftest")!;
        Assert.That(() => selftest.CheckMessage("/x/input.bin: a refusal\nover two lines", "the message"),
            Throws.InstanceOf<FuzzInvariantException>().With.Message.StartsWith(
            "selftest: the message holds control character U+000A"));
        Assert.That(selftest.Execute(_workspace, Encoding.ASCII.GetBytes("x")).Rejected, Is.False);
    }

    [Test]
    public void PlantedNamelessRefusalIsAFinding()
    {
        FuzzTarget selftest = FuzzTargets.Find("selftest")!;
        Assert.That(() => selftest.Execute(_workspace, Encoding.ASCII.GetBytes(SelfTestTarget.Nameless)),
            Throws.InstanceOf<FuzzInvariantException>().With.Message.EqualTo(
            "selftest: the DferException's message names none of the input files (selftest): planted: a refusal that "
            + "names no input file"));
    }

    [Test]
    public void RefusalOverTheLengthLimitIsAFinding()
    {
        var target = new FuzzTarget("probe", "", ["input.bin"],
            (_, input) => throw DferException.ForFile("/x/input.bin", new string('a', input.Length)));
        // A DferException is capped at construction, so even a huge refusal passes the harness ...
        Assert.That(target.Execute(_workspace, new byte[100_000]).Rejected, Is.True);
        // ... and the harness still catches an over-long message that reached it some other way.
        Assert.That(()
            => target.CheckMessage("/x/input.bin: " + new string('a', FuzzTarget.MaxMessageChars), "the message"),
            Throws.InstanceOf<FuzzInvariantException>().With.Message.StartsWith(
            $"probe: the message is {FuzzTarget.MaxMessageChars + 14} characters long (limit 2048)"));
    }

    [Test]
    public void RefusalThatNamesNoInputIsAFinding()
    {
        var target = new FuzzTarget("probe", "", ["input.bin"],
            (_, _) => throw new DferException("something is wrong"));
        Assert.That(() => target.Execute(_workspace, [1]),
            Throws.InstanceOf<FuzzInvariantException>().With.Message.EqualTo(
            "probe: the DferException's message names none of the input files (input.bin): something is wrong"));
    }

    [Test]
    public void OtherExceptionsEscape()
    {
        var target = new FuzzTarget("probe", "", ["input.bin"], (_, _) => throw new IOException("disk"));
        Assert.That(() => target.Execute(_workspace, [1]), Throws.InstanceOf<IOException>());
    }

    [Test]
    public void ElementCountRefusesNegativeAndOverflowingShapes()
    {
        // The targets compare each tensor's bytes with this count: a shape it refuses never matches.
        Assert.That(FuzzTargets.ElementCount([2, 3]), Is.EqualTo(6));
        Assert.That(FuzzTargets.ElementCount([2, -3]), Is.Null);
        Assert.That(FuzzTargets.ElementCount([1L << 40, 1L << 40]), Is.Null);
        Assert.That(FuzzTargets.ElementCount([]), Is.EqualTo(1));
    }

    // ---- generated seeds --------------------------------------------------------------------------

    [Test]
    public void GeneratedSeedsAreCurrent()
    {
        bool write = Environment.GetEnvironmentVariable("DFER_FUZZ_WRITE_SEEDS") == "1";
        var stale = new List<string>();
        foreach (var (relative, bytes) in SeedCorpus.Generate(_workspace.Directory))
        {
            string path = Path.Combine(CorpusRoot, relative);
            if (write)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, bytes);
                continue;
            }
            if (!File.Exists(path)) { stale.Add($"{relative} (missing)"); continue; }
            byte[] committed = File.ReadAllBytes(path);
            bool same = relative.EndsWith(".pth", StringComparison.Ordinal)
                && relative.Contains("/valid-writer-", StringComparison.Ordinal)
                ? SameStateDict(committed, bytes) // zip entries carry the time they were written
                : committed.AsSpan().SequenceEqual(bytes);
            if (!same) stale.Add(relative);
        }
        Assert.That(stale, Is.Empty, "regenerate them with scripts/fuzz.sh seeds");
    }

    private bool SameStateDict(byte[] a, byte[] b)
    {
        string pa = Path.Combine(_workspace.Directory, "compare-a.pth"),
            pb = Path.Combine(_workspace.Directory, "compare-b.pth");
        File.WriteAllBytes(pa, a);
        File.WriteAllBytes(pb, b);
        var ta = TorchCheckpoint.ReadStateDict(pa);
        var tb = TorchCheckpoint.ReadStateDict(pb);
        return ta.Count == tb.Count
            && ta.Zip(tb).All(p => p.First.Name == p.Second.Name && p.First.DType == p.Second.DType
            && p.First.Shape.SequenceEqual(p.Second.Shape) && p.First.Data.SequenceEqual(p.Second.Data));
    }
}

/// <summary>
/// The seed corpus of every target (tests/Dfer.Fuzz/corpus/TARGET/): small valid inputs, each made
/// by Dfer's own writers or copied from the real fixtures, and near-valid ones that must be refused.
/// </summary>
internal static class SeedCorpus
{
    private static readonly string[] TorchFixturesAccepted =
        ["bigendian", "dtypes", "legacy", "protocol1", "protocol4", "views"];
    private static readonly string[] TorchFixturesRefused =
        ["evil_hidden", "negative_stride", "oversize_storage", "stack_underflow", "truncated", "unbalanced_mark"];

    /// <param name="scratch">A folder for the writers that only write files.</param>
    public static IEnumerable<(string Relative, byte[] Bytes)> Generate(string scratch)
    {
        string fixtures = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(FuzzCorpusTests.CorpusRoot)!)!,
            "fixtures", "torch");
        foreach (string f in TorchFixturesAccepted)
            yield return ($"pth/valid-fixture-{f}.pth", File.ReadAllBytes(Path.Combine(fixtures, f + ".pth")));
        foreach (string f in TorchFixturesRefused)
            yield return ($"pth/bad-fixture-{f}.pth", File.ReadAllBytes(Path.Combine(fixtures, f + ".pth")));
        yield return ("pth/valid-writer-tiny.pth", WithFile(scratch, "seed.pth", p =>
            TorchSaveWriter.Write(p, [("w", [1f, 2f, 3f, 4f, 5f, 6f], [2, 3]), ("b", [0.5f, -0.5f], [2])])));
        yield return ("pth/valid-writer-wrapped.pth", WithFile(scratch, "seed.pth", p =>
            TorchSaveWriter.Write(p, [("conv.weight", [1f, 2f, 3f, 4f], [1, 1, 2, 2]), ("s", [7f], [])],
            wrapperKey: "state_dict", modulePrefix: true)));

        foreach (var seed in Safetensors(scratch)) yield return seed;
        foreach (var seed in NpySeeds(scratch)) yield return seed;
        foreach (var seed in TfJsSeeds()) yield return seed;
        foreach (var seed in ResultsSeeds(scratch)) yield return seed;

        yield return ("dfew-csv/valid-split.csv", Ascii("video_name,label\n1,1\n2,7\n3,4\n"));
        yield return ("dfew-csv/valid-no-header.csv", Ascii("00001,2\r\n\"00002\",3\r\n"));
        yield return ("dfew-csv/valid-row-errors.csv", Ascii("video_name,label\n4,1\n1,9\n,3\n1\n2,x\n\"3\",\"5\"\n"));
        yield return ("dfew-csv/bad-empty.csv", []);
        yield return ("dfew-csv/bad-header-only.csv", Ascii("video_name,label\n"));

        foreach (var seed in FfprobeSeeds()) yield return seed;
        foreach (var seed in TemporalSeeds(scratch)) yield return seed;
    }

    /// <summary>
    /// Temporal Encoders (docs/models/temporal-encoder.md) as the temporal target reads them: the config, a 0x00
    /// byte, then the .safetensors weights (written by <see cref="SafetensorsWriter"/>). The valid ones read
    /// "expression.logits" (F = 7) with d_model 4, 2 heads and feed-forward 4: one post-norm ReLU layer with a
    /// learned table of W = 3, and two pre-norm GELU layers (feed-forward 4 and 2) with the sinusoidal table, a final
    /// norm and an explicit eps. The bad ones break one rule each.
    /// </summary>
    private static IEnumerable<(string, byte[])> TemporalSeeds(string scratch)
    {
        const string learned = "{\"features\": \"expression.logits\", \"heads\": 2, \"norm_first\": false, "
            + "\"activation\": \"relu\", \"window\": 3, \"positional\": \"learned\"}";
        const string sinusoidal = "{\"features\": \"expression.logits\", \"heads\": 2, \"norm_first\": true, "
            + "\"activation\": \"gelu\", \"window\": 8, \"positional\": \"sinusoidal\", \"layer_norm_eps\": 1e-6}";
        var oneLayer = TemporalWeights(d: 4, features: 7, feedForward: [4], window: 3, finalNorm: false);
        var twoLayers = TemporalWeights(d: 4, features: 7, feedForward: [4, 2], window: null, finalNorm: true);
        byte[] Seed(string config, IEnumerable<(string, long[], float[])> weights) =>
            [.. Encoding.UTF8.GetBytes(config), 0,
                .. WithFile(scratch, "seed.safetensors", p => SafetensorsWriter.WriteFloat32(p, weights))];

        yield return ("temporal/valid-learned-post-relu.bin", Seed(learned, oneLayer));
        yield return ("temporal/valid-sinusoidal-pre-gelu.bin", Seed(sinusoidal, twoLayers));
        byte[] good = Seed(learned, oneLayer);
        yield return ("temporal/bad-config-not-object.bin", Seed("[\"expression.logits\", 2]", oneLayer));
        yield return ("temporal/bad-missing-field.bin", Seed(learned.Replace("\"heads\": 2, ", ""), oneLayer));
        yield return ("temporal/bad-wrong-shape.bin", Seed(learned,
            oneLayer.Select(t => t.Item1 == "input_proj.weight" ? (t.Item1, new long[] { 4, 8 }, Values(32)) : t)));
        yield return ("temporal/bad-nan-weight.bin", Seed(learned,
            oneLayer.Select(t => t.Item1 == "head.bias"
                ? (t.Item1, t.Item2, t.Item3[..6].Append(float.NaN).ToArray()) : t)));
        yield return ("temporal/bad-truncated.bin", good[..(good.Length - 10)]);
        yield return ("temporal/bad-no-weights.bin", Encoding.UTF8.GetBytes(learned));
        // The fuzzer's finding regressions/config-name-not-utf8.bin (bytes that are not UTF-8 in a field name), as an
        // escape in a value: System.Text.Json threw InvalidOperationException when the config's strings were read.
        yield return ("temporal/regressions/config-escaped-lone-surrogate.bin",
            Seed(learned.Replace("\"relu\"", "\"\\ud800\""), oneLayer));
        // Found by the Lines check: past DferException.MaxLines problems, a last line "and N more problems" named no
        // file.
        yield return ($"temporal/regressions/{TemporalManyProblems}", Seed(
            learned[..^1] + string.Concat(Enumerable.Range(0, 30).Select(i => $", \"x{i}\": {i}")) + "}", oneLayer));
    }

    /// <summary>A config with 30 unknown fields (30 problems) next to good weights.</summary>
    internal const string TemporalManyProblems = "many-problems-last-line-names-no-file.bin";

    /// <summary>The state dict of a Temporal Encoder (the keys of docs/models/temporal-encoder.md, "Files") with
    /// small deterministic values; <paramref name="window"/> null leaves out the learned table.</summary>
    private static List<(string, long[], float[])> TemporalWeights(int d, int features, int[] feedForward,
        int? window, bool finalNorm)
    {
        var t = new List<(string, long[], float[])>
        {
            ("input_proj.weight", [d, features], Values(d * features)),
            ("input_proj.bias", [d], Values(d)),
        };
        if (window is { } w) t.Add(("pos_embed", [1, w, d], Values(w * d)));
        for (int i = 0; i < feedForward.Length; i++)
        {
            string p = $"encoder.layers.{i}.";
            int ff = feedForward[i];
            t.AddRange(new (string, long[], float[])[]
            {
                (p + "self_attn.in_proj_weight", [3 * d, d], Values(3 * d * d)),
                (p + "self_attn.in_proj_bias", [3 * d], Values(3 * d)),
                (p + "self_attn.out_proj.weight", [d, d], Values(d * d)),
                (p + "self_attn.out_proj.bias", [d], Values(d)),
                (p + "linear1.weight", [ff, d], Values(ff * d)),
                (p + "linear1.bias", [ff], Values(ff)),
                (p + "linear2.weight", [d, ff], Values(d * ff)),
                (p + "linear2.bias", [d], Values(d)),
                (p + "norm1.weight", [d], Enumerable.Repeat(1f, d).ToArray()),
                (p + "norm1.bias", [d], Values(d)),
                (p + "norm2.weight", [d], Enumerable.Repeat(1f, d).ToArray()),
                (p + "norm2.bias", [d], Values(d)),
            });
        }
        if (finalNorm)
        {
            t.Add(("encoder.norm.weight", [d], Enumerable.Repeat(1f, d).ToArray()));
            t.Add(("encoder.norm.bias", [d], Values(d)));
        }
        t.Add(("head.weight", [7, d], Values(7 * d)));
        t.Add(("head.bias", [7], Values(7)));
        return t;
    }

    /// <summary>n small values, -0.45 … 0.45 in steps of 0.05, in a fixed scrambled order.</summary>
    private static float[] Values(int n) => Enumerable.Range(0, n).Select(i => (i * 37 % 19 - 9) * 0.05f).ToArray();

    /// <summary>
    /// ffprobe's JSON reports (<see cref="Dfer.Media.VideoDecoder.ProbeArguments"/>) as ffprobe 5.1
    /// prints them, on small videos made with ffmpeg's testsrc/sine sources: an MP4 that records its
    /// frame count, an MPEG-TS whose streams appear twice (under "programs"), a Matroska file that
    /// records none, a WAV with no video, and what ffprobe prints on a file it cannot read.
    /// </summary>
    private static IEnumerable<(string, byte[])> FfprobeSeeds()
    {
        yield return ("ffprobe/valid-mp4.json", Ascii(FfprobeReport(
            "    \"programs\": [\n\n    ],\n",
            [Stream("h264", "video", "\"width\": 64,\n            \"height\": 48,\n            \"nb_frames\": \"5\"")],
            "mov,mp4,m4a,3gp,3g2,mj2")));
        string ts = Stream("mpeg2video", "video",
            "\"width\": 32,\n            \"height\": 24,\n            \"side_data_list\": [\n                {\n\n     "
            + "           }\n            ]");
        string mp2 = Stream("mp2", "audio", null);
        yield return ("ffprobe/valid-mpegts-programs.json", Ascii(FfprobeReport(
            "    \"programs\": [\n        {\n            \"streams\": [\n"
            + Indent(ts, 8) + ",\n" + Indent(mp2, 8) + "\n            ]\n        }\n    ],\n",
            [ts, mp2], "mpegts")));
        yield return ("ffprobe/valid-matroska-no-count.json", Ascii(FfprobeReport(
            "    \"programs\": [\n\n    ],\n",
            [Stream("ffv1", "video", "\"width\": 16,\n            \"height\": 16")], "matroska,webm")));
        yield return ("ffprobe/bad-audio-only.json", Ascii(FfprobeReport(
            "    \"programs\": [\n\n    ],\n", [Stream("pcm_s16le", "audio", null)], "wav")));
        yield return ("ffprobe/bad-unreadable.json", Ascii("{\n\n}\n"));
        yield return ("ffprobe/bad-empty.json", []);
        yield return ("ffprobe/bad-old-csv.json", Ascii("640,480\n"));
        yield return ("ffprobe/bad-zero-size.json", Ascii(FfprobeReport("",
            [Stream("h264", "video", "\"width\": 0,\n            \"height\": 0")], "mov,mp4,m4a,3gp,3g2,mj2")));
        yield return ("ffprobe/bad-size-words.json", Ascii(FfprobeReport("",
            [Stream("h264", "video", "\"width\": \"N/A\",\n            \"height\": \"N/A\"")],
                "mov,mp4,m4a,3gp,3g2,mj2")));
        // The fuzzer's two findings against the old CSV probe (224,22446341 overflowed width·height·3;
        // 20000,20000 allocated a 1.2 GB frame buffer), as reports: both must be refused.
        foreach (var (name, width, height) in FfprobeOversizeRegressions)
        {
            yield return ($"ffprobe/regressions/{name}", Ascii(FfprobeReport("",
                [Stream("h264", "video", $"\"width\": {width},\n            \"height\": {height}")],
                    "mov,mp4,m4a,3gp,3g2,mj2")));
        }
    }

    /// <summary>The ffprobe regressions: file name and the frame size the report claims.</summary>
    internal static readonly (string Name, long Width, long Height)[] FfprobeOversizeRegressions =
    [
        ("frame-size-overflows.json", 224, 22446341),
        ("frame-size-over-heap.json", 20000, 20000),
    ];

    /// <summary>One entry of a report's "streams", laid out as ffprobe lays it out at the top level.</summary>
    private static string Stream(string codec, string type, string? fields) =>
        "        {\n"
        + $"            \"codec_name\": \"{codec}\",\n            \"codec_type\": \"{type}\""
        + (fields is null ? "" : ",\n            " + fields)
        + "\n        }";

    private static string Indent(string text, int spaces) =>
        string.Join('\n', text.Split('\n').Select(l => l.Length == 0 ? l : new string(' ', spaces) + l));

    private static string FfprobeReport(string programs, string[] streams, string format) =>
        "{\n" + programs
        + "    \"streams\": [\n" + string.Join(",\n", streams) + "\n    ],\n"
        + $"    \"format\": {{\n        \"format_name\": \"{format}\"\n    }}\n}}\n";

    private static IEnumerable<(string, byte[])> Safetensors(string scratch)
    {
        yield return ("safetensors/valid-f32.safetensors", WithFile(scratch, "seed.safetensors", p =>
            SafetensorsWriter.WriteFloat32(p, [("w", [2, 2], [1f, -2f, 3f, 0.25f]), ("b", [2], [0f, 1f])],
                new Dictionary<string, string> { ["format"] = "pt" })));
        yield return ("safetensors/valid-dtypes.safetensors", WithFile(scratch, "seed.safetensors", p =>
            SafetensorsWriter.Write(p,
            [
                ("f16", DType.F16, [2], [0x00, 0x3c, 0x00, 0xc0]),
                ("bf16", DType.BF16, [1], [0x80, 0x3f]),
                ("f64", DType.F64, [], BitConverter.GetBytes(1.5)),
                ("i64", DType.I64, [1], BitConverter.GetBytes(-7L)),
                ("i32", DType.I32, [1], BitConverter.GetBytes(9)),
                ("u8", DType.U8, [3], [1, 2, 3]),
                ("flag", DType.Bool, [2], [0, 1]),
                ("empty", DType.F32, [0, 3], []),
            ])));
        yield return ("safetensors/bad-header-length.safetensors",
            [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        yield return ("safetensors/bad-offsets.safetensors",
            SafetensorsBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8));
        yield return ("safetensors/bad-json.safetensors", SafetensorsBytes("{\"w\":{\"dtype\":\"F32\",", 0));
    }

    private static byte[] SafetensorsBytes(string header, int dataBytes)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BitConverter.GetBytes((ulong)h.Length).CopyTo(bytes, 0);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    private static IEnumerable<(string, byte[])> NpySeeds(string scratch)
    {
        yield return ("npy/valid-v1.npy",
            WithFile(scratch, "seed.npy", p => Npy.WriteFloat32(p, [1f, 2f, 3f, 4f, 5f, 6f], [2, 3])));
        yield return ("npy/valid-v1-scalar.npy", WithFile(scratch, "seed.npy", p => Npy.WriteFloat32(p, [42f], [])));
        yield return ("npy/valid-v2.npy",
            NpyBytes(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 4));
        yield return ("npy/valid-v3.npy", NpyBytes(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 3));
        yield return ("npy/bad-fortran.npy",
            NpyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 4));
        yield return ("npy/bad-float64.npy",
            NpyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 4));
        yield return ("npy/bad-truncated.npy",
            NpyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", 2));
        yield return ("npy/bad-version.npy",
            NpyBytes(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 1));
    }

    /// <summary>A .npy file of the given major version, its header padded as NumPy pads it, and
    /// <paramref name="floats"/> float32 values 0, 1, ...</summary>
    private static byte[] NpyBytes(int major, string dict, int floats)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        int prefix = 6 + 2 + lengthBytes;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - prefix - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (lengthBytes == 2) bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else bytes.AddRange(BitConverter.GetBytes(header.Length));
        bytes.AddRange(Encoding.UTF8.GetBytes(header));
        for (int i = 0; i < floats; i++) bytes.AddRange(BitConverter.GetBytes((float)i));
        return bytes.ToArray();
    }

    private static IEnumerable<(string, byte[])> TfJsSeeds()
    {
        string shard = FuzzTargets.TfJsShardName;
        yield return ("tfjs/valid-float32.bin", TfJs(
            $"[{{\"paths\":[\"{shard}\"],\"weights\":[{{\"name\":\"dense/kernel\",\"shape\":[2,"
            + $"3],\"dtype\":\"float32\"}},{{\"name\":\"dense/bias\",\"shape\":[3],\"dtype\":\"float32\"}}]}}]",
            Floats(9)));
        yield return ("tfjs/valid-quantized.bin", TfJs(
            $"[{{\"paths\":[\"{shard}\"],\"weights\":["
            + "{\"name\":\"q8\",\"shape\":[4],\"dtype\":\"float32\","
            + "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}},"
            + "{\"name\":\"q16\",\"shape\":[2],\"dtype\":\"float32\","
            + "\"quantization\":{\"dtype\":\"uint16\",\"scale\":0.25,\"min\":0}},"
            + "{\"name\":\"half\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}},"
            + "{\"name\":\"ids\",\"shape\":[1],\"dtype\":\"int32\"}]}]",
            [1, 2, 3, 4, 0x10, 0x00, 0x20, 0x00, 0x00, 0x3c, 0x00, 0xc0, 7, 0, 0, 0]));
        yield return ("tfjs/bad-short-shard.bin", TfJs(
            $"[{{\"paths\":[\"{shard}\"],\"weights\":[{{\"name\":\"w\",\"shape\":[4],\"dtype\":\"float32\"}}]}}]",
            Floats(3)));
        yield return ("tfjs/bad-missing-shard.bin", TfJs(
            "[{\"paths\":[\"group1-shard1of1\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"}]}]",
            Floats(1)));
        yield return ("tfjs/bad-not-array.bin", TfJs("{\"paths\":[]}", []));
    }

    private static byte[] TfJs(string manifest, byte[] shard) => [.. Encoding.UTF8.GetBytes(manifest), 0, .. shard];

    private static byte[] Floats(int n)
        => Enumerable.Range(0, n).SelectMany(i => BitConverter.GetBytes(i * 0.5f)).ToArray();

    private static IEnumerable<(string, byte[])> ResultsSeeds(string scratch)
    {
        float[] p = [0.4f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f], l = [2f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, -1e-3f];
        ResultRow[] rows =
        [
            new("00001", "/data/Clip/clip_224x224/00001", "happy", "happy", 2, p, l, null),
            new("clip \"two\", quoted", "/data/b.mp4", null, "sad", 1, p, l, null),
            new("00003", "/data/c", "fear", null, 0, null, null, "/data/c: cannot decode video: no frames"),
        ];
        // What Describe writes for an m3dfel run on a DFEW split (the fields --resume compares), on one
        // line as Describe writes it (ResultsMetadata keeps the text it was given).
        const string spreadHead = """{"dfer_results":1,"dfer_version":"seed","model":"m3dfel","weights":"w.pth",""";
        using var spread = System.Text.Json.JsonDocument.Parse($$"""
            {{spreadHead}}"weights_sha256":"00","weights_key":null,
             "precision":"fp32","backend":"cpu","classes":["happy","sad","neutral","angry","surprise","disgust","fear"],
             "clip_frames":16,"clip_size":112,"clip_resize":"bilinear","clip_layout":"tchw","clip_sampling":"segments",
             "jitter_seed":null,"dataset":"/data/split.csv","root":"/data","clip_folder":"Clip/clip_224x224"}
            """);
        using var meta =
            System.Text.Json.JsonDocument.Parse(System.Text.Json.JsonSerializer.Serialize(spread.RootElement));
        var metadata = ResultsMetadata.Parse(meta.RootElement, "seed");
        foreach (string ext in new[] { "jsonl", "csv" })
        {
            yield return ($"results-{ext}/valid-rows.{ext}", ResultsSeed(scratch, ext, rows, metadata));
            yield return ($"results-{ext}/valid-empty.{ext}", ResultsSeed(scratch, ext, [], metadata));
        }
        // The bad files carry a good metadata line (sidecar) so that the fuzzer starts past it.
        string head = metadata.ToJson() + "\n";
        byte[] sidecar = [.. Encoding.UTF8.GetBytes(metadata.ToJson()), 0];
        yield return ("results-jsonl/bad-middle-line.jsonl",
            Ascii(head + "{\"video\":\"a\",\"error\":\"x\"}\n{\"video\":\n{\"video\":\"b\",\"error\":\"y\"}\n"));
        yield return ("results-jsonl/bad-class-count.jsonl",
            Ascii(head + "{\"video\":\"a\",\"label\":\"happy\",\"probabilities\":[1,0],\"logits\":[1,"
                + "0]}\n{\"video\":\"b\",\"error\":\"y\"}\n"));
        yield return ("results-csv/bad-header.csv", [.. sidecar, .. Ascii("video,input\n00001,/x\n")]);
        yield return ("results-csv/bad-field-count.csv", [.. sidecar, .. Ascii(
            "video,input,target,label,clips," + string.Join(",", EmotionClasses.Seven.Select(c => "p_" + c)) + ","
            + string.Join(",", EmotionClasses.Seven.Select(c => "logit_" + c))
            + ",error\n00001,/x,happy\n00002,/y,,,,,,,,,,,,,,,,,,,oops\n")]);
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    /// <summary>A results file as its target reads it: for CSV the sidecar, a 0x00 byte, then the CSV.</summary>
    private static byte[] ResultsSeed(string scratch, string ext, IReadOnlyList<ResultRow> rows,
        ResultsMetadata metadata)
    {
        string path = Path.Combine(scratch, $"seed.{ext}");
        ResultsFile.Create(path, EmotionClasses.Seven, rows, metadata).Dispose();
        byte[] file = File.ReadAllBytes(path);
        File.Delete(path);
        if (ext != "csv") return file;
        string sidecar = ResultsFile.SidecarOf(path);
        byte[] head = File.ReadAllBytes(sidecar);
        File.Delete(sidecar);
        return [.. head, 0, .. file];
    }

    private static byte[] WithFile(string scratch, string name, Action<string> write)
    {
        string path = Path.Combine(scratch, "seeds", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        write(path);
        byte[] bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }
}

using System.Text;
using Dfer.Cli.Datasets;
using Dfer.Media;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;
using Dfer.Weights.TfJs;

namespace Dfer.Fuzz;

/// <summary>What a target did with an input that kept the invariant.</summary>
/// <param name="Rejected">False when the parser accepted the input, true when it refused it with a
/// <see cref="DferException"/>.</param>
/// <param name="Message">The refusal's message, or a short summary of what was read.</param>
public sealed record FuzzResult(bool Rejected, string Message);

/// <summary>
/// The harness's own finding: the parser returned or refused, but not as the house rules say
/// (a multi-line, over-long or nameless message; output inconsistent with itself). Like any other
/// exception that escapes a target, it is a crash to the fuzzer.
/// </summary>
public sealed class FuzzInvariantException(string message) : Exception(message);

/// <summary>The body of a target: hand <paramref name="input"/> to one Dfer entry point.</summary>
/// <returns>A short summary of what was read (for replays).</returns>
public delegate string FuzzBody(FuzzWorkspace workspace, ReadOnlySpan<byte> input);

/// <summary>One fuzzed entry point.</summary>
/// <param name="Name">The name on the command line and the folder of its corpus.</param>
/// <param name="Description">One line for the target list.</param>
/// <param name="InputNames">The file names the body writes the input to; a refusal must name one.</param>
/// <param name="Body">Runs the entry point.</param>
/// <param name="Hidden">Not part of <c>all</c> (the driver self-test).</param>
public sealed record FuzzTarget(string Name, string Description, string[] InputNames, FuzzBody Body,
    bool Hidden = false)
{
    /// <summary>Longest refusal message accepted: the issue asks for one short line (anything taken
    /// from the file capped), and this leaves room for long temp paths.</summary>
    public const int MaxMessageChars = 2048;

    /// <summary>Most managed memory one input may allocate (in all, on the calling thread): the
    /// issue's bound of 1 GB whatever a header claims.</summary>
    public const long MaxAllocatedBytes = 1L << 30;

    /// <summary>
    /// Runs the input and checks the invariant: the entry point returns or throws a
    /// <see cref="DferException"/> whose message is one line, of at most <see cref="MaxMessageChars"/>
    /// characters, without control characters, naming the input file (and so is each of its
    /// <see cref="DferException.Lines"/>), having allocated at most
    /// <see cref="MaxAllocatedBytes"/>. Any other exception escapes
    /// (the fuzzer's crash); so does a <see cref="FuzzInvariantException"/> for a bad message.
    /// </summary>
    public FuzzResult Execute(FuzzWorkspace workspace, ReadOnlySpan<byte> input)
    {
        string summary;
        bool rejected = false;
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            summary = Body(workspace, input);
        }
        catch (DferException ex)
        {
            CheckMessage(ex.Message, "the DferException's message");
            // Lines is what the CLI prints, one line per problem ([Message] for a single problem):
            // every line must keep the same rules.
            if (ex.Lines.Count == 0)
                throw new FuzzInvariantException($"{Name}: the DferException has no Lines: {Clip(ex.Message)}");
            for (int i = 0; i < ex.Lines.Count; i++)
                CheckMessage(ex.Lines[i], $"line {i + 1} of {ex.Lines.Count} of the DferException");
            (summary, rejected) = (ex.Message, true);
        }
        // Without a GC heap limit (the NUnit replay) a blow-up succeeds; count what it took.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > MaxAllocatedBytes)
            throw new FuzzInvariantException(
                $"{Name}: {allocated} bytes allocated for an input of {input.Length} bytes "
                + $"(limit {MaxAllocatedBytes})");
        return new FuzzResult(rejected, summary);
    }

    /// <summary>Throws a <see cref="FuzzInvariantException"/> unless <paramref name="message"/> is one short line
    /// naming an input file.</summary>
    public void CheckMessage(string message, string what)
    {
        if (message.Length > MaxMessageChars)
            throw new FuzzInvariantException(
                $"{Name}: {what} is {message.Length} characters long (limit {MaxMessageChars}): {Clip(message)}");
        foreach (char c in message)
        {
            if (char.IsControl(c))
                throw new FuzzInvariantException(
                    $"{Name}: {what} holds control character U+{(int)c:X4} (not one line, or raw terminal "
                    + $"codes): {Clip(message)}");
        }
        if (!InputNames.Any(n => message.Contains(n, StringComparison.Ordinal)))
            throw new FuzzInvariantException(
                $"{Name}: {what} names none of the input files ({string.Join(", ", InputNames)}): {Clip(message)}");
    }

    private static string Clip(string s)
    {
        string t = s.Length > 300 ? s[..300] + "..." : s;
        return string.Concat(t.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }
}

/// <summary>The fuzz targets: each writes the input where the parser expects a file and calls the real entry
/// point.</summary>
public static class FuzzTargets
{
    /// <summary>DFEW's class count, for the dataset split and the results files.</summary>
    private const int Classes = 7;

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("pth", "TorchCheckpoint.ReadStateDict on a torch.save file, every tensor's bytes read",
            ["input.pth"], Pth),
        new("safetensors", "SafetensorsFile.Open, every tensor read (as float32/int64 where it can be)",
            ["input.safetensors"], Safetensors),
        new("npy", "Npy.ReadFloat32", ["input.npy"], NpyFile),
        new("tfjs", "TfJsWeights.Load: the input is manifest JSON, a 0x00 byte, then the shard 'shard1'",
            [TfJsManifestName, TfJsShardName], TfJs),
        new("results-jsonl", "ResultsFile.Read of a .jsonl results file (7 classes)", ["results.jsonl"],
            (ws, input) => Results(ws, input, "results.jsonl")),
        new("results-csv",
            "ResultsFile.Read of a .csv results file (7 classes): the input is its .meta.json sidecar, a 0x00 byte, "
            + "then the CSV",
            ["results.csv", "results.csv.meta.json"], (ws, input) => Results(ws, input, "results.csv")),
        new("dfew-csv", "Dataset.FromCsv of a DFEW split (root with clips 00001, 00002 and 00003.mp4)",
            ["split.csv"], DfewCsv),
        new("ffprobe", "VideoDecoder.ParseProbe: the input is ffprobe's JSON report (stdout, UTF-8) on video.mp4",
            [VideoName], FfprobeReport),
        new("temporal",
            "TemporalEncoder.Load, then Build: the input is the config enc.json, a 0x00 byte, then enc.safetensors",
            [TemporalConfigName, TemporalWeightsName], Temporal),
        new("selftest", "driver self-test: a non-Dfer exception on the 4-byte input DFER, and the "
                        + "inputs in SelfTestTarget that kill, hang or exhaust the process",
            ["selftest"], SelfTest.SelfTestTarget.Run, Hidden: true),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    // ---- weights --------------------------------------------------------------------------------

    private static string Pth(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        string path = ws.WriteInput("input.pth", input);
        IReadOnlyList<RawTensor> tensors = TorchCheckpoint.ReadStateDict(path);
        long bytes = 0;
        foreach (RawTensor t in tensors)
        {
            long? count = ElementCount(t.Shape);
            if (count is null || t.Data.LongLength != count * t.DType.Size())
                throw new FuzzInvariantException(
                    $"pth: tensor '{t.Name}' has {t.Data.LongLength} bytes for shape [{string.Join(", ", t.Shape)}] "
                    + $"of {t.DType}");
            bytes += Touch(t.Data);
        }
        return $"{tensors.Count} tensors, {bytes} bytes";
    }

    private static string Safetensors(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        string path = ws.WriteInput("input.safetensors", input);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        long bytes = 0;
        foreach (SafetensorsEntry e in file.Entries)
        {
            ReadOnlySpan<byte> raw = file.GetBytes(e);
            long? count = ElementCount(e.Shape);
            if (count is null || raw.Length != count * e.DType.Size())
                throw new FuzzInvariantException($"safetensors: entry {e} gives {raw.Length} bytes");
            bytes += Touch(raw);
            if (e.DType is DType.F32 or DType.F16 or DType.BF16 or DType.F64)
                Expect(file.ReadFloat32(e).LongLength == count, "safetensors", $"ReadFloat32({e.Name}) length");
            else if (e.DType is DType.I64 or DType.I32 or DType.U8 or DType.Bool)
                Expect(file.ReadInt64(e).LongLength == count, "safetensors", $"ReadInt64({e.Name}) length");
        }
        return $"{file.Entries.Count} tensors, {bytes} bytes, {file.Metadata.Count} metadata";
    }

    private static string NpyFile(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        string path = ws.WriteInput("input.npy", input);
        (float[] data, int[] shape) = Npy.ReadFloat32(path);
        long? count = ElementCount(shape.Select(d => (long)d).ToArray());
        Expect(count == data.LongLength, "npy", $"{data.LongLength} values for shape ({string.Join(", ", shape)})");
        return $"shape ({string.Join(", ", shape)})";
    }

    /// <summary>A two-file input's first file: the bytes before its first 0x00 (all of them when there is none).
    /// </summary>
    private static ReadOnlySpan<byte> BeforeNul(ReadOnlySpan<byte> input) =>
        input.IndexOf((byte)0) is var split and >= 0 ? input[..split] : input;

    /// <summary>A two-file input's second file: the bytes after its first 0x00 (none when there is none).</summary>
    private static ReadOnlySpan<byte> AfterNul(ReadOnlySpan<byte> input) =>
        input.IndexOf((byte)0) is var split and >= 0 ? input[(split + 1)..] : [];

    public const string TfJsManifestName = "weights_manifest.json";
    public const string TfJsShardName = "shard1";

    private static string TfJs(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        ReadOnlySpan<byte> manifest = BeforeNul(input), shard = AfterNul(input);
        ws.WriteInput(Path.Combine("tfjs", TfJsShardName), shard);
        string manifestPath = ws.WriteInput(Path.Combine("tfjs", TfJsManifestName), manifest);
        StateDict dict = TfJsWeights.Load(manifestPath);
        foreach (string name in dict.Names)
        {
            StateTensor t = dict[name];
            Expect(ElementCount(t.Shape) == t.Data.LongLength, "tfjs",
                $"weight '{name}' has {t.Data.LongLength} values for {t.ShapeText}");
        }
        return $"{dict.Count} weights";
    }

    // ---- models ---------------------------------------------------------------------------------

    public const string TemporalConfigName = "enc.json";
    public const string TemporalWeightsName = "enc.safetensors";

    /// <summary>
    /// A Temporal Encoder (docs/models/temporal-encoder.md) as <c>--temporal</c> loads it: the config and the
    /// weights, both from the user. What loads must agree with itself (at least one layer, heads dividing d_model,
    /// every feed-forward size positive, F the size of the chosen features) and build into a graph whose shapes
    /// infer for a full chunk, ending in [1, W, 7] logits and probabilities.
    /// </summary>
    private static string Temporal(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        ReadOnlySpan<byte> config = BeforeNul(input), weights = AfterNul(input);
        ws.WriteInput(Path.Combine("temporal", TemporalConfigName), config);
        string path = ws.WriteInput(Path.Combine("temporal", TemporalWeightsName), weights);
        TemporalEncoder encoder = TemporalEncoder.Load(path);
        TemporalEncoderConfig c = encoder.Config;
        Expect(encoder.Layers >= 1, "temporal", $"{encoder.Layers} layers");
        Expect(encoder.DModel >= 1 && c.Heads >= 1 && encoder.DModel % c.Heads == 0, "temporal",
            $"d_model {encoder.DModel} with {c.Heads} heads");
        Expect(encoder.FeedForward.All(f => f >= 1), "temporal",
            $"feed-forward sizes {string.Join("/", encoder.FeedForward)}");
        Expect(TemporalEncoderConfig.FeatureSizes.TryGetValue(c.Features, out int size) && size == encoder.Features,
            "temporal", $"{encoder.Features} features for \"{c.Features}\"");
        Expect(c.Window is >= 1 and <= TemporalEncoderConfig.MaxWindow, "temporal", $"window {c.Window}");
        Graph graph = encoder.Build();
        int[][] shapes = graph.InferShapes([1, c.Window, encoder.Features]);
        foreach (string output in new[] { "logits", "probabilities" })
            Expect(graph.Outputs.TryGetValue(output, out int v) && shapes[v].SequenceEqual([1, c.Window, 7]),
                "temporal", $"output '{output}' missing or not [1, {c.Window}, 7]");
        return $"{encoder.Describe()}; {graph.Nodes.Count} nodes";
    }

    // ---- CLI files ------------------------------------------------------------------------------

    private static string Results(FuzzWorkspace ws, ReadOnlySpan<byte> input, string name)
    {
        if (ResultsFile.IsCsv(name))
        {
            // A CSV results file keeps its metadata in a sidecar: fuzz both, split at the first 0x00.
            int split = input.IndexOf((byte)0);
            ws.WriteInput(ResultsFile.SidecarOf(name), split < 0 ? [] : input[..split]);
            input = split < 0 ? input : input[(split + 1)..];
        }
        string path = ws.WriteInput(name, input);
        List<ResultRow> rows = ResultsFile.Read(path, EmotionClasses.Seven);
        foreach (ResultRow r in rows)
        {
            Expect(r.Probabilities is null || r.Probabilities.Length == Classes, name,
                $"row '{r.Video}' has {r.Probabilities?.Length} probabilities");
            Expect(r.Logits is null || r.Logits.Length == Classes, name,
                $"row '{r.Video}' has {r.Logits?.Length} logits");
        }
        return $"{rows.Count} rows";
    }

    private static string DfewCsv(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        string root = ws.DfewRoot();
        string csv = ws.WriteInput("split.csv", input);
        IReadOnlyList<DatasetItem> items = Dataset.FromCsv(csv, root, Classes);
        FuzzTarget self = Find("dfew-csv")!;
        foreach (DatasetItem item in items)
        {
            if (item.Error is not null) self.CheckMessage(item.Error, $"the error of item '{item.Name}'");
            Expect(item.Target is null or >= 0 and < Classes, "dfew-csv",
                $"item '{item.Name}' has class {item.Target}");
        }
        return $"{items.Count} items, {items.Count(i => i.Error is not null)} with errors";
    }

    // ---- media ----------------------------------------------------------------------------------

    public const string VideoName = "video.mp4";

    /// <summary>
    /// What Dfer makes of ffprobe's report (<see cref="VideoDecoder.ProbeArguments"/>): the input is
    /// decoded as <see cref="VideoDecoder"/> reads ffprobe's stdout (UTF-8, a byte-order mark
    /// dropped, invalid bytes replaced) and handed to <see cref="VideoDecoder.ParseProbe"/>, which
    /// must return a frame size that is positive and within <see cref="MediaLimits.MaxImagePixels"/>
    /// and a frame count that is unknown or within <see cref="MediaLimits.MaxVideoFrames"/>, or refuse.
    /// No file is written: the report only names the video.
    /// </summary>
    private static string FfprobeReport(FuzzWorkspace ws, ReadOnlySpan<byte> input)
    {
        string path = Path.Combine(ws.Directory, VideoName);
        string report;
        using (var reader = new StreamReader(new MemoryStream(input.ToArray()), new UTF8Encoding(false),
            detectEncodingFromByteOrderMarks: true))
            report = reader.ReadToEnd();
        VideoDecoder.VideoProbe probe = VideoDecoder.ParseProbe(path, report);
        Expect(probe.Width > 0 && probe.Height > 0 && (long)probe.Width * probe.Height <= MediaLimits.MaxImagePixels,
            "ffprobe", $"frame size {probe.Width}x{probe.Height}");
        Expect(probe.FrameCount is null or (>= 0 and <= MediaLimits.MaxVideoFrames), "ffprobe",
            $"frame count {probe.FrameCount}");
        return $"{probe.Width}x{probe.Height}, {(probe.FrameCount is { } n ? $"{n} frames" : "frame count unknown")}";
    }

    // ---- helpers --------------------------------------------------------------------------------

    /// <summary>The product of the dimensions, or null if one is negative or the product overflows.</summary>
    public static long? ElementCount(long[] shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) return null;
            if (d != 0 && count > long.MaxValue / d) return null;
            count *= d;
        }
        return count;
    }

    private static void Expect(bool ok, string target, string what)
    {
        if (!ok) throw new FuzzInvariantException($"{target}: inconsistent output: {what}");
    }

    /// <summary>Reads every byte, so that lazily mapped or unmapped data faults here, inside the input.</summary>
    private static long Touch(ReadOnlySpan<byte> bytes)
    {
        ulong sum = 0;
        foreach (byte b in bytes) sum += b;
        Checksum = sum;
        return bytes.Length;
    }

    /// <summary>The last <see cref="Touch"/>'s byte sum (kept so the reads cannot be optimised away).</summary>
    public static ulong Checksum { get; private set; }
}

using Dfer.Backends;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>Scores of one clip.</summary>
public sealed record ClipResult(float[] Logits, float[] Probabilities, string Label)
{
    /// <summary>
    /// For a model that picks frames (RDFER): the indices, into the clip's frames, of the frames it looked at, in its
    /// order; −1 for a black frame (a position outside the clip). Null for other models.
    /// </summary>
    public int[]? KeyFrames { get; init; }

    /// <summary>
    /// <see cref="KeyFrames"/> as source frame numbers, for a clip made of the source frames
    /// <paramref name="clipFrames"/> (−1 stays −1 for a black frame); null for models that pick no frames.
    /// </summary>
    public int[]? KeyFramesIn(IReadOnlyList<int> clipFrames) =>
        KeyFrames?.Select(k => k >= 0 && k < clipFrames.Count ? clipFrames[k] : -1).ToArray();

    /// <summary>
    /// Null when every logit and probability is finite; otherwise why these scores mean nothing, e.g. "the model
    /// produced non-finite logits (NaN) for this input; check the weights and the input range". Weights that load
    /// but overflow (a weight of 3e38), or inputs far outside the range the model was trained on, make NaN or Inf
    /// logits, whose arg-max is a confident-looking but arbitrary label: every consumer of scores refuses them
    /// through this one test instead of reporting that label.
    /// </summary>
    /// <param name="what">What the scores are of, as the message names it.</param>
    public string? NonFiniteProblem(string what = "this input")
    {
        string? kind = NonFiniteKind(Logits) ?? NonFiniteKind(Probabilities);
        return kind is null ? null
            : $"the model produced non-finite logits ({kind}) for {what}; check the weights and the input range";
    }

    /// <summary>"NaN" when any value is NaN, else "Inf" when any is infinite, else null.</summary>
    private static string? NonFiniteKind(float[] values)
    {
        string? kind = null;
        foreach (float v in values)
        {
            if (float.IsNaN(v)) return "NaN";
            if (float.IsInfinity(v)) kind = "Inf";
        }
        return kind;
    }
}

/// <summary>
/// A model with its weights compiled on a backend: clips in, scores out. Checks inputs before
/// they reach a kernel. One run at a time.
/// </summary>
public sealed class Session : IDisposable
{
    private readonly IExecutable _exe;

    public Session(IModel model, StateDict weights, IBackend backend)
    {
        Model = model;
        Backend = backend;
        Weights = weights;
        var graph = model.Build(weights);
        FlopsPerClip = graph.Flops(new[] { 1 }.Concat(model.ClipShape).ToArray());
        _exe = backend.Compile(graph);
    }

    /// <summary>
    /// FLOPs of one clip by the graph's count (multiply-add = 2, as PyTorch's FlopCounterMode counts
    /// convolutions and matrix products; elementwise ops add their arithmetic): 86.4 G for M3DFEL,
    /// of which the convolutions are the 86.3 G usually quoted.
    /// </summary>
    public long FlopsPerClip { get; }

    public IModel Model { get; }
    public IBackend Backend { get; }
    public StateDict Weights { get; }

    /// <summary>Per-node timing hook (profiling); null for full speed.</summary>
    public NodeTimer? Timer { get => _exe.Timer; set => _exe.Timer = value; }

    /// <summary>The FLOPs the backend's kernel for <paramref name="node"/> (a node of this session's graph, as
    /// <see cref="Timer"/> reports it) executes on inputs of <paramref name="inputShapes"/>
    /// (<see cref="IExecutable.ExecutedFlops"/>).</summary>
    public long ExecutedFlops(Node node, int[][] inputShapes) => _exe.ExecutedFlops(node, inputShapes);

    /// <summary>How the last forward pass executed, where the backend says
    /// (<see cref="IExecutable.Execution"/>).</summary>
    public string? Execution => _exe.Execution;

    /// <summary>Whether <see cref="Submit"/> overlaps batches on this backend
    /// (<see cref="IExecutable.Pipelined"/>).</summary>
    public bool Pipelined => _exe.Pipelined;

    /// <summary>Number of floats in one clip.</summary>
    public int ClipLength => Model.ClipShape.Aggregate(1, (a, b) => a * b);

    /// <summary>
    /// Scores <paramref name="batch"/> clips laid out as [batch, ClipShape...]. Throws
    /// <see cref="DferException"/> naming <paramref name="source"/> and the clip for NaN/Inf input.
    /// </summary>
    public ClipResult[] Run(ReadOnlySpan<float> clips, int batch, string source = "input")
        => Submit(clips, batch, source).Wait();

    /// <summary>
    /// As <see cref="Run"/>, but returns once the batch is on its way: a caller with a stream of batches submits the
    /// next before waiting for this one, and a backend that can (cuda) uploads it while this one computes (see
    /// <see cref="IExecutable.Submit"/>). The input is checked and copied before this returns, so its buffer may be
    /// reused.
    /// </summary>
    public PendingClips Submit(ReadOnlySpan<float> clips, int batch, string source = "input")
    {
        if (batch < 1 || clips.Length != (long)batch * ClipLength)
            throw DferException.ForFile(source,
                $"expected {batch} clips of [{string.Join(", ", Model.ClipShape)}] ({(long)batch * ClipLength} "
                + $"values), got {clips.Length} values");
        if (FirstNonFinite(clips) is long at)
        {
            float v = clips[(int)at];
            throw DferException.ForFile(source,
                $"clip {at / ClipLength} contains {(float.IsNaN(v) ? "NaN" : "Inf")} (at value {at % ClipLength} of "
                + "the clip)");
        }
        var shape = new[] { batch }.Concat(Model.ClipShape).ToArray();
        return new PendingClips(_exe.Submit(clips, shape), batch, Model.Classes);
    }

    /// <summary>
    /// The index of the first NaN or ±Inf in <paramref name="values"/>, or null. x − x is 0 for every finite x and
    /// NaN otherwise, so the test runs a SIMD vector at a time; large inputs (a batch of 128 M3DFEL clips is 77 M
    /// values) are split over the cores.
    /// </summary>
    public static unsafe long? FirstNonFinite(ReadOnlySpan<float> values)
    {
        const int Part = 1 << 20;
        int parts = (values.Length + Part - 1) / Part;
        if (parts <= 1) return FirstNonFinite(values, 0);
        fixed (float* p = values)
        {
            IntPtr at = (IntPtr)p;
            int length = values.Length;
            var found = new long[parts];
            Parallel.For(0, parts, k =>
            {
                int from = k * Part, n = Math.Min(Part, length - from);
                found[k] = FirstNonFinite(new ReadOnlySpan<float>((float*)at + from, n), from) ?? -1;
            });
            foreach (long f in found) if (f >= 0) return f;
            return null;
        }
    }

    private static long? FirstNonFinite(ReadOnlySpan<float> values, long offset)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int width = System.Numerics.Vector<float>.Count;
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i + width <= values.Length; i += width)
            {
                var v = new System.Numerics.Vector<float>(values.Slice(i, width));
                if (!System.Numerics.Vector.EqualsAll(v - v, zero)) break;   // locate it in the scalar loop below
            }
        }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return offset + i;
        return null;
    }

    public void Dispose() => _exe.Dispose();
}

/// <summary>The scores of a submitted batch (<see cref="Session.Submit"/>); <see cref="Wait"/> blocks until the device
/// is done.</summary>
public sealed class PendingClips
{
    private readonly PendingRun _run;
    private readonly int _batch;
    private readonly IReadOnlyList<string> _classes;
    private ClipResult[]? _results;

    internal PendingClips(PendingRun run, int batch, IReadOnlyList<string> classes)
    {
        _run = run;
        _batch = batch;
        _classes = classes;
    }

    /// <summary>Waits for the batch and returns one result per clip (the same array every call).</summary>
    public ClipResult[] Wait()
    {
        if (_results is not null) return _results;
        var outputs = _run.Wait();
        var logits = outputs["logits"];
        var probs = outputs["probabilities"];
        outputs.TryGetValue("key_frames", out float[]? keys);
        int classes = _classes.Count;
        int perClip = keys is null ? 0 : keys.Length / _batch;
        var results = new ClipResult[_batch];
        for (int b = 0; b < _batch; b++)
        {
            var l = logits.AsSpan(b * classes, classes).ToArray();
            var p = probs.AsSpan(b * classes, classes).ToArray();
            int best = 0;
            for (int c = 1; c < classes; c++) if (p[c] > p[best]) best = c;
            results[b] = new ClipResult(l, p, _classes[best])
            {
                KeyFrames = keys?.AsSpan(b * perClip, perClip).ToArray().Select(k => (int)k).ToArray(),
            };
        }
        return _results = results;
    }
}

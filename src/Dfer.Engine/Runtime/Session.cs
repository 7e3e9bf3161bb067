using Dfer.Backends;
using Dfer.Models;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>Scores of one clip.</summary>
public sealed record ClipResult(float[] Logits, float[] Probabilities, string Label);

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

    /// <summary>Number of floats in one clip.</summary>
    public int ClipLength => Model.ClipShape.Aggregate(1, (a, b) => a * b);

    /// <summary>
    /// Scores <paramref name="batch"/> clips laid out as [batch, ClipShape...]. Throws
    /// <see cref="DferException"/> naming <paramref name="source"/> and the clip for NaN/Inf input.
    /// </summary>
    public ClipResult[] Run(ReadOnlySpan<float> clips, int batch, string source = "input")
    {
        if (batch < 1 || clips.Length != (long)batch * ClipLength)
            throw DferException.ForFile(source, $"expected {batch} clips of [{string.Join(", ", Model.ClipShape)}] ({(long)batch * ClipLength} values), got {clips.Length} values");
        for (int b = 0; b < batch; b++)
        {
            var clip = clips.Slice(b * ClipLength, ClipLength);
            for (int i = 0; i < clip.Length; i++)
                if (!float.IsFinite(clip[i]))
                    throw DferException.ForFile(source, $"clip {b} contains {(float.IsNaN(clip[i]) ? "NaN" : "Inf")} (at value {i} of the clip)");
        }
        var shape = new[] { batch }.Concat(Model.ClipShape).ToArray();
        var outputs = _exe.Run(clips, shape);
        var logits = outputs["logits"];
        var probs = outputs["probabilities"];
        int classes = Model.Classes.Count;
        var results = new ClipResult[batch];
        for (int b = 0; b < batch; b++)
        {
            var l = logits.AsSpan(b * classes, classes).ToArray();
            var p = probs.AsSpan(b * classes, classes).ToArray();
            int best = 0;
            for (int c = 1; c < classes; c++) if (p[c] > p[best]) best = c;
            results[b] = new ClipResult(l, p, Model.Classes[best]);
        }
        return results;
    }

    public void Dispose() => _exe.Dispose();
}

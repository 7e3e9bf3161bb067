using Dfer.Backends;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>
/// A model's logits on one backend next to those of the baseline backend: the worst logit difference,
/// the fraction of clips predicting the baseline's class, and the bounds they were judged by.
/// </summary>
public sealed record ModelCheck(string Backend, float[] Logits, double MaxAbsDifference, bool Passed, double Seconds,
    double Agreement = 1, ModelTolerance? Tolerance = null, string Precision = "fp32")
{
    /// <summary>For a model that picks frames (RDFER's "key_frames" output): whether every run's frame choice equals
    /// the baseline's exactly (a different choice fails the check whatever the logits); null for others.</summary>
    public bool? KeyFramesMatch { get; init; }
}

/// <summary>
/// Whole-model agreement across backends: one model, one set of weights, one input, each backend's
/// logits against the baseline's (the CPU backend, itself checked against PyTorch by the tests).
/// </summary>
public static class ModelValidation
{
    /// <summary>Backends agree when every logit is within this of the baseline's (fp32 paths; see
    /// <see cref="ModelTolerance"/> for the others).</summary>
    public const double LogitTolerance = ModelTolerance.Fp32MaxAbsLogit;

    /// <summary>
    /// Runs <paramref name="model"/> with <paramref name="weights"/> on a deterministic random input of
    /// <paramref name="batch"/> clips of the model's clip shape, on the baseline and on each backend.
    /// Each backend is judged by the <see cref="ModelTolerance"/> of the precision it computes in
    /// (<see cref="BackendRegistry.PrecisionOf"/>).
    /// </summary>
    public static IReadOnlyList<ModelCheck> Compare(IModel model, StateDict weights, IBackend baseline,
        IReadOnlyList<IBackend> backends,
        int batch, ulong seed)
    {
        int[] shape = new[] { batch }.Concat(model.ClipShape).ToArray();
        float[] input = new DeterministicRandom(seed).Uniform(Tensor.ElementCountOf(shape), 0f, 1f);
        return Compare(model, weights, baseline, backends, input, batch);
    }

    /// <summary>As <see cref="Compare(IModel, StateDict, IBackend, IReadOnlyList{IBackend}, int, ulong)"/> on the given
    /// clips, laid out [batch, ClipShape...].</summary>
    public static IReadOnlyList<ModelCheck> Compare(IModel model, StateDict weights, IBackend baseline,
        IReadOnlyList<IBackend> backends,
        float[] input, int batch)
    {
        var graph = model.Build(weights);
        int[] shape = new[] { batch }.Concat(model.ClipShape).ToArray();
        if (input.Length != Tensor.ElementCountOf(shape))
            throw new ArgumentException(
                $"{input.Length} values are not {batch} clips of [{string.Join(", ", model.ClipShape)}]");
        int classes = model.Classes.Count;

        var results = new List<ModelCheck>();
        var (reference, referenceKeys) = Runs(baseline, graph, input, shape, out double baseSeconds)[0];
        bool? keysMatch = referenceKeys is null ? null : true;
        results.Add(new ModelCheck(baseline.Name, reference, 0, reference.All(float.IsFinite), baseSeconds, 1,
            ModelTolerance.Fp32,
            BackendRegistry.PrecisionName(baseline))
        { KeyFramesMatch = keysMatch });
        foreach (IBackend backend in backends)
        {
            var runs = Runs(backend, graph, input, shape, out double seconds);
            float[] logits = runs[^1].Logits;
            double worst = 0;
            bool finite = true;
            bool? sameKeys = keysMatch;
            foreach (var (run, keys) in runs)
            {
                for (int i = 0; i < run.Length; i++)
                {
                    if (!float.IsFinite(run[i])) finite = false;
                    worst = Math.Max(worst, Math.Abs((double)run[i] - reference[i]));
                }
                if (referenceKeys is not null && !keys!.AsSpan().SequenceEqual(referenceKeys)) sameKeys = false;
            }
            ModelTolerance tolerance = ModelTolerance.For(BackendRegistry.PrecisionOf(backend));
            double agreement = ModelTolerance.Agreement(logits, reference, classes);
            double maxAbs = finite ? worst : double.PositiveInfinity;
            results.Add(new ModelCheck(backend.Name, logits, maxAbs,
                finite && tolerance.Accepts(maxAbs, agreement) && sameKeys != false, seconds, agreement, tolerance,
                BackendRegistry.PrecisionName(backend))
            { KeyFramesMatch = sameKeys });
        }
        return results;
    }

    /// <summary>
    /// The logits of every run a backend is judged on: one, or for a backend whose runs differ in how they execute
    /// (<see cref="IExecutable.Pipelined"/>: cuda runs eagerly in each of its two slots, then replays each slot's CUDA
    /// graph) four, so the replayed graphs are checked against the baseline too; the worst of them counts.
    /// </summary>
    private static (float[] Logits, float[]? Keys)[] Runs(IBackend backend, Ops.Graph graph, float[] input,
        int[] shape, out double seconds)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using IExecutable exe = backend.Compile(graph);
        (float[], float[]?) One()
        {
            var outputs = exe.Run(input, shape);
            return (outputs["logits"], outputs.TryGetValue("key_frames", out float[]? keys) ? keys : null);
        }
        var runs = new List<(float[], float[]?)> { One() };
        seconds = watch.Elapsed.TotalSeconds;
        if (exe.Pipelined)
            for (int i = 0; i < 3; i++) runs.Add(One());
        return runs.ToArray();
    }
}

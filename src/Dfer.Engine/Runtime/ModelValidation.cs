using Dfer.Backends;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>A model's logits on one backend next to those of the baseline backend.</summary>
public sealed record ModelCheck(string Backend, float[] Logits, double MaxAbsDifference, bool Passed, double Seconds);

/// <summary>
/// Whole-model agreement across backends: one model, one set of weights, one input, each backend's
/// logits against the baseline's (the CPU backend, itself checked against PyTorch by the tests).
/// </summary>
public static class ModelValidation
{
    /// <summary>Backends agree when every logit is within this of the baseline's (fp32 paths).</summary>
    public const double LogitTolerance = 1e-4;

    /// <summary>
    /// Runs <paramref name="model"/> with <paramref name="weights"/> on a deterministic random input of
    /// <paramref name="batch"/> clips of the model's clip shape, on the baseline and on each backend.
    /// </summary>
    public static IReadOnlyList<ModelCheck> Compare(IModel model, StateDict weights, IBackend baseline, IReadOnlyList<IBackend> backends,
        int batch, ulong seed)
    {
        var graph = model.Build(weights);
        int[] shape = new[] { batch }.Concat(model.ClipShape).ToArray();
        float[] input = new DeterministicRandom(seed).Uniform(Tensor.ElementCountOf(shape), 0f, 1f);

        var results = new List<ModelCheck>();
        float[] reference = Logits(baseline, graph, input, shape, out double baseSeconds);
        results.Add(new ModelCheck(baseline.Name, reference, 0, reference.All(float.IsFinite), baseSeconds));
        foreach (IBackend backend in backends)
        {
            float[] logits = Logits(backend, graph, input, shape, out double seconds);
            double worst = 0;
            bool finite = true;
            for (int i = 0; i < logits.Length; i++)
            {
                if (!float.IsFinite(logits[i])) finite = false;
                worst = Math.Max(worst, Math.Abs((double)logits[i] - reference[i]));
            }
            results.Add(new ModelCheck(backend.Name, logits, finite ? worst : double.PositiveInfinity, finite && worst <= LogitTolerance, seconds));
        }
        return results;
    }

    private static float[] Logits(IBackend backend, Ops.Graph graph, float[] input, int[] shape, out double seconds)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using IExecutable exe = backend.Compile(graph);
        float[] logits = exe.Run(input, shape)["logits"];
        seconds = watch.Elapsed.TotalSeconds;
        return logits;
    }
}

using System.Globalization;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>
/// The load-time check every model runs on its state dict before it builds a graph from it: names and shapes
/// (<see cref="StateDict.Validate"/>), then values no trained network can hold. Such weights load, compile and run,
/// and produce NaN logits whose arg-max is an arbitrary label; refusing them here, with their names, says what is
/// wrong before anything is scored.
/// </summary>
/// <remarks>
/// Values that cannot be right:
/// <list type="bullet">
/// <item>NaN or ±Inf anywhere (a diverged training run, a corrupted file);</item>
/// <item>a negative BatchNorm running variance (<c>*.running_var</c>): a variance is a mean of squares, and folding
/// BatchNorm divides by <c>√(σ² + ε)</c>, which is NaN or infinite for σ² ≤ −ε.</item>
/// </list>
/// Finite but absurd magnitudes (a weight of 3e38) are not refused here: nothing bounds a weight, and what such
/// weights do to a given input shows up as non-finite logits, which scoring refuses per input
/// (<see cref="ClipResult.NonFiniteProblem"/>).
/// </remarks>
public static class WeightSanity
{
    /// <summary>Tensors named in the message; the rest are counted.</summary>
    public const int TensorsNamed = 4;

    /// <summary>
    /// Checks <paramref name="weights"/> against the keys and shapes a model expects, then their values; throws one
    /// <see cref="DferException"/> naming the weights' source and the offending tensors (the first
    /// <see cref="TensorsNamed"/>, and how many in all).
    /// </summary>
    /// <param name="weights">The state dict, as loaded (its <see cref="StateDict.Source"/> names it in
    /// messages).</param>
    /// <param name="model">The model's name in messages, e.g. "M3DFEL".</param>
    /// <param name="expected">Every key the model takes, with its shape.</param>
    public static void Validate(StateDict weights, string model, IReadOnlyList<(string Name, long[] Shape)> expected)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(expected);
        // Keys and shapes first: weights of another model are that, whatever their values. Only a state dict with
        // exactly the expected tensors gets its values looked at here; otherwise Validate names what is wrong.
        if (HasExactly(weights, expected)) CheckValues(weights, expected.Select(e => e.Name));
        weights.Validate(model, expected);
    }

    /// <summary>Throws naming the tensors among <paramref name="names"/> that hold values that cannot be
    /// right.</summary>
    public static void CheckValues(StateDict weights, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(names);
        var problems = new List<string>();
        foreach (string name in names)
        {
            if (!weights.TryGet(name, out StateTensor tensor)) continue;
            if (Problem(tensor) is string problem) problems.Add($"{SafeText.Quote(name)} ({problem})");
        }
        if (problems.Count == 0) return;
        string listed = string.Join(", ", problems.Take(TensorsNamed))
            + (problems.Count > TensorsNamed ? $", and {problems.Count - TensorsNamed} more" : "");
        string count = problems.Count == 1 ? "1 tensor holds" : $"{problems.Count} tensors hold";
        throw DferException.ForFile(weights.Source,
            $"{count} weights that cannot be right: {listed}; the checkpoint is broken (did training diverge?)");
    }

    private static bool HasExactly(StateDict weights, IReadOnlyList<(string Name, long[] Shape)> expected)
    {
        if (weights.Count != expected.Count) return false;
        foreach (var (name, shape) in expected)
            if (!weights.TryGet(name, out StateTensor t) || !t.Shape.AsSpan().SequenceEqual(shape)) return false;
        return true;
    }

    /// <summary>What is wrong with one tensor's values, in words, or null.</summary>
    private static string? Problem(StateTensor tensor)
    {
        float[] data = tensor.Data;
        var parts = new List<string>(2);
        if (Session.FirstNonFinite(data) is not null)
        {
            long nan = 0, inf = 0;
            foreach (float v in data)
            {
                if (float.IsNaN(v)) nan++;
                else if (float.IsInfinity(v)) inf++;
            }
            var counts = new List<string>(2);
            if (nan > 0) counts.Add($"{nan} NaN");
            if (inf > 0) counts.Add($"{inf} Inf");
            parts.Add($"{string.Join(", ", counts)} of {data.Length} values");
        }
        if (tensor.Name.EndsWith(".running_var", StringComparison.Ordinal))
        {
            long negative = 0;
            int first = -1;
            for (int i = 0; i < data.Length; i++)
                if (data[i] < 0f)
                {
                    negative++;
                    if (first < 0) first = i;
                }
            if (negative > 0)
                parts.Add($"{negative} negative BatchNorm running variance{(negative == 1 ? "" : "s")} "
                    + $"of {data.Length}, first {data[first].ToString("R", CultureInfo.InvariantCulture)} at "
                    + $"index {first}");
        }
        return parts.Count == 0 ? null : string.Join("; ", parts);
    }
}

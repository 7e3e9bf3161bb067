using TorchSharp;

namespace Dfer.TorchSupport;

/// <summary>The argument checks every TorchSharp reference model makes before loading a state dict.</summary>
internal static class StateDictArguments
{
    /// <summary>Float32 or Float64 only; keys without DataParallel's <c>module.</c> prefix.</summary>
    public static void Check(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict,
        torch.ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        if (dtype is not (torch.ScalarType.Float32 or torch.ScalarType.Float64))
            throw new ArgumentException($"Only Float32 and Float64 are supported, not {dtype}.", nameof(dtype));
        if (stateDict.Keys.Any(k => k.StartsWith("module.", StringComparison.Ordinal)))
            throw new ArgumentException(
                "State dict keys start with 'module.' (a DataParallel checkpoint); strip that prefix first.",
                nameof(stateDict));
    }

    /// <summary>
    /// One state-dict entry as a tensor of <paramref name="dtype"/> (a copy, so the model never aliases the caller's
    /// arrays), after checking that it exists and has <paramref name="shape"/> and that many values; records the key
    /// in <paramref name="used"/> and the tensor in <paramref name="owned"/> (the model disposes it).
    /// </summary>
    /// <exception cref="ArgumentException">The key is missing, or its shape or data length does not match.</exception>
    public static torch.Tensor Load(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, string key,
        long[] shape, torch.ScalarType dtype, HashSet<string> used, List<torch.Tensor> owned)
    {
        if (!stateDict.TryGetValue(key, out var entry))
            throw new ArgumentException($"State dict lacks '{key}'.", nameof(stateDict));
        if (entry.Shape is null || !entry.Shape.SequenceEqual(shape))
            throw new ArgumentException(
                $"'{key}' has shape [{string.Join(',', entry.Shape ?? [])}], expected [{string.Join(',', shape)}].",
                nameof(stateDict));
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (entry.Data is null || entry.Data.LongLength != count)
            throw new ArgumentException(
                $"'{key}' holds {entry.Data?.LongLength ?? 0} values, its shape needs {count}.", nameof(stateDict));
        used.Add(key);
        using var source = torch.tensor(entry.Data, shape, torch.ScalarType.Float32);
        var parameter = source.to_type(dtype, copy: true).DetachFromDisposeScope();
        owned.Add(parameter);
        return parameter;
    }

    /// <summary>Refuses a state dict holding keys the model did not use (BatchNorm's
    /// <c>num_batches_tracked</c> counters aside when <paramref name="ignoreBatchCounters"/>), naming a few.</summary>
    /// <exception cref="ArgumentException">Some key was not used.</exception>
    public static void RefuseUnused(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict,
        HashSet<string> used, bool ignoreBatchCounters = false)
    {
        var unknown = stateDict.Keys
            .Where(k => !used.Contains(k)
                && !(ignoreBatchCounters && k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"State dict has unexpected keys: {string.Join(", ", unknown.Take(5))}" +
                (unknown.Count > 5 ? $" (and {unknown.Count - 5} more)." : "."),
                nameof(stateDict));
    }
}

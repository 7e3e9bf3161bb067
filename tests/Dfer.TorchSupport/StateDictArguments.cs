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
}

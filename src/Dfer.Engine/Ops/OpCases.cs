using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// The numerics cases of registered op kinds (each kind declares its own, <see cref="OpKind.Cases"/>),
/// with weights drawn from a seed salted by the kind's position in <see cref="OpRegistry"/>, so each
/// kind's cases are the same whatever else is asked for.
/// </summary>
public static class OpCases
{
    public static IReadOnlyList<OpCase> For(OpKind kind, ulong seed = 1) =>
        kind.Cases(new DeterministicRandom(seed + (ulong)OpRegistry.IndexOf(kind) * 7919));

    /// <summary>The cases of the kind called <paramref name="name"/> (e.g. "conv3d").</summary>
    public static IReadOnlyList<OpCase> For(string name, ulong seed = 1) => For(OpRegistry.Named(name), seed);

    public static IEnumerable<OpCase> All(ulong seed = 1) => OpRegistry.All.SelectMany(k => For(k, seed));
}

using Dfer.Ops;

namespace Dfer.Backends;

/// <summary>One op's output as a backend wrote it, with the guard bands around it checked.</summary>
/// <param name="Values">The output, row-major.</param>
/// <param name="GuardWrites">How many guard-band elements (before and after the output) were overwritten.</param>
public sealed record GuardedOutput(float[] Values, int GuardWrites);

/// <summary>
/// A backend that runs single ops on host data, for the op matrix and <c>dfer validate</c>. The
/// output is written between guard bands of a sentinel value, so a kernel that writes out of
/// bounds is caught, not just one that computes wrongly.
/// </summary>
public interface IOpRunner
{
    /// <summary>Whether the backend has a kernel for <paramref name="kind"/> (every backend answers for every kind, by design).</summary>
    bool Supports(OpKind kind);

    /// <summary>Runs <paramref name="op"/> on <paramref name="inputs"/> (row-major, of <paramref name="shapes"/>).</summary>
    GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard, float sentinel);
}

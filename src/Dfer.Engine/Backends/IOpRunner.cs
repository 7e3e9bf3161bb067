using Dfer.Ops;

namespace Dfer.Backends;

/// <summary>One op's output as a backend wrote it, with the guard bands around it checked.</summary>
/// <param name="Values">The output, row-major.</param>
/// <param name="GuardWrites">How many guard-band elements (before and after the output) were overwritten.</param>
public sealed record GuardedOutput(float[] Values, int GuardWrites)
{
    /// <summary>
    /// Splits a buffer laid out [guard | output | guard] into the output and the number of guard
    /// elements that no longer hold <paramref name="sentinel"/> (compared bit for bit, so NaN is caught too).
    /// </summary>
    public static GuardedOutput FromPadded(ReadOnlySpan<float> padded, int guard, float sentinel)
    {
        int n = padded.Length - 2 * guard;
        int bits = BitConverter.SingleToInt32Bits(sentinel), writes = 0;
        for (int i = 0; i < guard; i++)
        {
            if (BitConverter.SingleToInt32Bits(padded[i]) != bits) writes++;
            if (BitConverter.SingleToInt32Bits(padded[guard + n + i]) != bits) writes++;
        }
        return new GuardedOutput(padded.Slice(guard, n).ToArray(), writes);
    }
}

/// <summary>
/// A backend that runs single ops on host data, for the op matrix and <c>dfer validate</c>. The
/// output is written between guard bands of a sentinel value, so a kernel that writes out of
/// bounds is caught, not just one that computes wrongly.
/// </summary>
public interface IOpRunner
{
    /// <summary>Whether the backend has a kernel for <paramref name="kind"/> (every backend answers for every kind, by
    /// design).</summary>
    bool Supports(OpKind kind);

    /// <summary>Runs <paramref name="op"/> on <paramref name="inputs"/> (row-major, of
    /// <paramref name="shapes"/>).</summary>
    GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard,
        float sentinel);
}

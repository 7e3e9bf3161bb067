using Dfer.Tensors;

namespace Dfer.Ops;

internal static class CpuChecks
{
    /// <summary>Kernels that index by hand need dense row-major memory; the planner provides it, tests may
    /// not.</summary>
    public static Tensor Dense(Tensor t) => t.IsContiguous ? t : Tensor.FromArray(t.ToArray(), t.Shape);

    public static void ExpectDense(Tensor t, string op)
    {
        if (!t.IsContiguous)
            throw new ArgumentException(
                $"{op}: output must be contiguous, got strides ({string.Join(",", t.Strides)})");
    }
}

using Dfer.Primitives.Reference;

namespace Dfer.Ops.LayerNorm;

/// <summary>Plain loops in float64 (<see cref="LayerNormRowsReference"/>): the oracle for every layernorm
/// kernel.</summary>
public static class LayerNormReference
{
    public static double[] Run(LayerNormOp op, double[] x, int[] xs) => LayerNormRowsReference.Run(op.Weights, x, xs);
}

using Dfer.Primitives.Reference;

namespace Dfer.Ops.Linear;

/// <summary>Plain loops in float64 (<see cref="DenseRowsReference"/>): the oracle for every linear kernel.</summary>
public static class LinearReference
{
    public static double[] Run(LinearOp op, double[] x) => DenseRowsReference.Run(op.Weights, x);
}

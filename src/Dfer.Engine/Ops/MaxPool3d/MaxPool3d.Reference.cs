using Dfer.Primitives.Reference;

namespace Dfer.Ops.MaxPool3d;

/// <summary>Plain loops in float64 (<see cref="WindowMax3dReference"/>): the oracle for every maxpool3d
/// kernel.</summary>
public static class MaxPool3dReference
{
    public static double[] Run(MaxPool3dOp op, double[] x, int[] xs)
    {
        int[] ys = op.OutputShape(new[] { xs });
        return WindowMax3dReference.Run(op.Geometry, x, xs, (ys[1], ys[2], ys[3]));
    }
}

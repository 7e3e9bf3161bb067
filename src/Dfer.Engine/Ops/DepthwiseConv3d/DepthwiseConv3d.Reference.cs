using Dfer.Primitives.Reference;

namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>Plain loops with double accumulation (<see cref="DepthwiseConvolution3dReference"/>): the oracle every
/// dwconv3d kernel is checked against.</summary>
public static class DepthwiseConv3dReference
{
    public static double[] Run(DepthwiseConv3dOp op, double[] x, int[] xs)
    {
        var ys = op.OutputShape(new[] { xs });
        return DepthwiseConvolution3dReference.Run(op.Weights, x, xs, (ys[1], ys[2], ys[3]));
    }
}

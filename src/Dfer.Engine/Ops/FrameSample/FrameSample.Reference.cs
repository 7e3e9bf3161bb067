using Dfer.Primitives.Reference;

namespace Dfer.Ops.FrameSample;

/// <summary>Plain loops in float64 (<see cref="FrameBlendReference"/>): the oracle for every frame-sampling
/// kernel.</summary>
public static class FrameSampleReference
{
    public static double[] Run(FrameSampleOp op, double[] x, int[] xs, double[] index, int[] indexShape) =>
        FrameBlendReference.Run(op.Sampling, x, xs, index, indexShape);
}

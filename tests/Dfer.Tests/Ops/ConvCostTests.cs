using Dfer.Ops.Conv2d;
using Dfer.Ops.DepthwiseConv3d;

namespace Dfer.Tests.Ops;

/// <summary>The profiler's accounting for dwconv3d and conv2d, computed by hand on small shapes.</summary>
[TestFixture]
public class OpCostConvTests
{
    private static float[] Zeros(long n) => new float[n];

    [Test]
    public void DepthwiseConv3d_CountsOneMultiplyAddPerTapAndChannel()
    {
        // x [2,4,6,6,3], k 3x3x3, stride (1,2,2), pad 1 → y [2,4,3,3,3] (216 outputs), 27 taps each.
        var op = new DepthwiseConv3dOp(3, (3, 3, 3), (1, 2, 2), (1, 1, 1), Zeros(3 * 27), null);
        int[][] shapes = [[2, 4, 6, 6, 3]];
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 2, 4, 3, 3, 3 }));
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * 216 * 27));                    // 11,664
        Assert.That(op.WeightElements, Is.EqualTo(81));
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (864 + 216 + 81)));             // x, y, W (no bias)

        var withBias = new DepthwiseConv3dOp(3, (1, 1, 1), (1, 1, 1), (0, 0, 0), Zeros(3), Zeros(3));
        Assert.That(withBias.Flops([[1, 1, 2, 2, 3]]), Is.EqualTo(2L * 12));
        Assert.That(withBias.Bytes([[1, 1, 2, 2, 3]]), Is.EqualTo(4L * (12 + 12 + 3 + 3)));
    }

    [Test]
    public void Conv2d_DilationShrinksTheOutput_FlopsCountCinTimesTaps()
    {
        // IFDD's: x [1,14,14,4], k 3x3, dilation 2, stride 2, pad 2 → Ho = (14 + 4 − 4 − 1)/2 + 1 = 7.
        var op = new Conv2dOp(4, 5, (3, 3), (2, 2), (2, 2), (2, 2), Zeros(5 * 4 * 9), null);
        int[][] shapes = [[1, 14, 14, 4]];
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 1, 7, 7, 5 }));
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * 245 * 4 * 9));                  // 17,640
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (784 + 245 + 180)));            // x, y, W (no bias)

        // 5x5 input, k 3, dilation 3 needs a span of 7: pad 1 fits exactly one output.
        var tight = new Conv2dOp(1, 2, (3, 3), (1, 1), (1, 1), (3, 3), Zeros(18), Zeros(2));
        Assert.That(tight.OutputShape([[1, 5, 5, 1]]), Is.EqualTo(new[] { 1, 1, 1, 2 }));
        Assert.That(tight.WeightElements, Is.EqualTo(20));
        Assert.Throws<ArgumentException>(() => tight.OutputShape([[1, 4, 5, 1]]));
    }
}

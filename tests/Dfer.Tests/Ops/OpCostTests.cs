using Dfer.Ops;
using Dfer.Ops.Attention;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.MaxPool3d;
using Dfer.Ops.Permute;
using Dfer.Ops.Reshape;

namespace Dfer.Tests.Ops;

/// <summary>The profiler's accounting: FLOPs and minimum bytes of ops on small shapes, computed by hand.</summary>
[TestFixture]
public class OpCostTests
{
    private static float[] Zeros(long n) => new float[n];

    [Test]
    public void Conv3d_CountsMultiplyAddsAndEveryTensorOnce()
    {
        // x [1,3,4,5,2], k 3x3x3, pad 1, 4 outputs → y [1,3,4,5,4] (60 positions).
        var op = new Conv3dOp(2, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), Zeros(4 * 2 * 27), Zeros(4), relu: true,
            residual: false);
        int[][] shapes = [[1, 3, 4, 5, 2]];
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * 60 * 4 * 2 * 27));               // 25,920
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (120 + 240 + 216 + 4)));        // x, y, W, bias
    }

    [Test]
    public void Conv3dWithResidual_ReadsTheResidualToo()
    {
        var op = new Conv3dOp(2, 4, (1, 1, 1), (1, 1, 1), (0, 0, 0), Zeros(8), Zeros(4), relu: true, residual: true);
        int[][] shapes = [[1, 1, 2, 2, 2], [1, 1, 2, 2, 4]];
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * 4 * 4 * 2));
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (8 + 16 + 16 + 8 + 4)));
    }

    [Test]
    public void Linear_Lstm_Attention_Gate()
    {
        var linear = new LinearOp(5, 7, Zeros(35), Zeros(7));
        Assert.That(linear.Flops([[3, 5]]), Is.EqualTo(2L * 3 * 5 * 7));
        Assert.That(linear.Bytes([[3, 5]]), Is.EqualTo(4L * (15 + 21 + 35 + 7)));

        // One layer, one direction, input 3, hidden 5, batch 1, 2 steps: per step 4·5 gates × (3 + 5) MACs.
        var lstm = new LstmOp(3, 5, false, [[new LstmCell(Zeros(60), Zeros(100), Zeros(20), Zeros(20))]]);
        Assert.That(lstm.Flops([[1, 2, 3]]), Is.EqualTo(2L * 2 * 20 * 8));
        Assert.That(lstm.Bytes([[1, 2, 3]]), Is.EqualTo(4L * (6 + 10 + 200)));

        // 2 heads of 3, 4 tokens: q·kᵀ and attn·v, each 4×4×3 MACs per head.
        var attention = new AttentionOp(2, 3);
        Assert.That(attention.Flops([[1, 4, 18]]), Is.EqualTo(2L * 2 * 2 * 4 * 4 * 3));
        Assert.That(attention.Bytes([[1, 4, 18]]), Is.EqualTo(4L * (72 + 24)));

        var add = new Dfer.Ops.Add.AddOp();
        Assert.That(add.Bytes([[2, 3], [2, 3]]), Is.EqualTo(4L * 18));
    }

    [Test]
    public void LayoutOps_MoveTheirTensor_ReshapeMovesNothing()
    {
        var permute = new PermuteOp([-1, 3], [1, 0], [-1]);
        Assert.That(permute.Flops([[4, 3]]), Is.Zero);
        Assert.That(permute.Bytes([[4, 3]]), Is.EqualTo(4L * 24));
        Assert.That(new ReshapeOp(-1).Bytes([[4, 3]]), Is.Zero);
    }

    [Test]
    public void LayerNorm_Gelu_MaxPool3d()
    {
        var ln = new LayerNormOp(4, Zeros(4), Zeros(4), 1e-6);
        Assert.That(ln.Flops([[3, 4]]), Is.EqualTo(8L * 12));
        Assert.That(ln.Bytes([[3, 4]]), Is.EqualTo(4L * (12 + 12 + 8)));                 // x, y, weight, bias

        Assert.That(new GeluOp().Bytes([[2, 5]]), Is.EqualTo(4L * 20));

        // [1,2,5,5,3], k 1x3x3, s 1x2x2, p 0x1x1 → [1,2,3,3,3]: 54 outputs, 9 comparisons each.
        var pool = new MaxPool3dOp((1, 3, 3), (1, 2, 2), (0, 1, 1));
        Assert.That(pool.OutputShape([[1, 2, 5, 5, 3]]), Is.EqualTo(new[] { 1, 2, 3, 3, 3 }));
        Assert.That(pool.Flops([[1, 2, 5, 5, 3]]), Is.EqualTo(54L * 9));
        Assert.That(pool.Bytes([[1, 2, 5, 5, 3]]), Is.EqualTo(4L * (150 + 54)));
    }
}

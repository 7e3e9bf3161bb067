using Dfer.Ops.RelPosAttention;

namespace Dfer.Tests.Ops;

/// <summary>relposattn's accounting and index rule, computed by hand on small shapes.</summary>
[TestFixture]
public class OpCostRelPosAttentionTests
{
    private static float[] Zeros(long n) => new float[n];

    [Test]
    public void CountsTwoMatmulsPlusTheBiasProjections()
    {
        // q grid 1x2x2 (Nq 5), k grid 1x4x4 (Nk 17), B 2, H 3, d 5. Tables: t 1, h 7, w 7 rows.
        var op = new RelPosAttentionOp(3, 5, (1, 2, 2), (1, 4, 4), Zeros(1 * 5), Zeros(7 * 5), Zeros(7 * 5));
        int[][] shapes = [[2, 3, 5, 5], [2, 3, 17, 5], [2, 3, 17, 5]];
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 2, 3, 5, 5 }));
        // Per (b, head): q'k'ᵀ and P v' are 5·17·5 multiply-adds each = 2·2·425 = 1,700 FLOPs;
        // bias: 4 non-class queries × (1 + 4 + 4) table rows × 5 = 180 multiply-adds = 360 FLOPs.
        Assert.That(op.Flops(shapes), Is.EqualTo(6L * (1700 + 360)));              // 12,360
        Assert.That(op.WeightElements, Is.EqualTo(5 + 35 + 35));
        // q 150, k 510, v 510, y 150, tables 75.
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (150 + 510 + 510 + 150 + 75)));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 3, 5, 5], [2, 3, 16, 5], [2, 3, 16, 5]]));
        Assert.Throws<ArgumentException>(
            () => new RelPosAttentionOp(3, 5, (1, 2, 2), (1, 4, 4), Zeros(5), Zeros(6 * 5), Zeros(7 * 5)));
    }

    [Test]
    public void IndexRule_MatchesTheIfddNotes()
    {
        // t
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) Assert.That(RelPosAttentionOp.RelIndex(i, j, 8, 8), Is.EqualTo(i - j + 7));
        // block 0
        for (int i = 0; i < 56; i++)
            for (int j = 0; j < 7; j++) Assert.That(RelPosAttentionOp.RelIndex(i, j, 56, 7),
                Is.EqualTo(i + 8 * (6 - j)));
        // block 1
        for (int i = 0; i < 28; i++)
            for (int j = 0; j < 14; j++) Assert.That(RelPosAttentionOp.RelIndex(i, j, 28, 14),
                Is.EqualTo(i + 2 * (13 - j)));
        // block 8
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 14; j++) Assert.That(RelPosAttentionOp.RelIndex(i, j, 7, 14),
                Is.EqualTo(2 * i + 13 - j));
        // Non-integer ratio (q 5, k 3): floor(i − (j − 2)·5/3).
        Assert.That(RelPosAttentionOp.RelIndex(0, 0, 5, 3), Is.EqualTo(3));
        Assert.That(RelPosAttentionOp.RelIndex(4, 1, 5, 3), Is.EqualTo(5));
        Assert.That(RelPosAttentionOp.RelIndex(4, 0, 5, 3), Is.EqualTo(7));   // 2·5 − 1 − 2 = last row of 9
    }
}

using Dfer.Primitives.Reference;

namespace Dfer.Ops.Lifting;

/// <summary>Plain loops in float64: the oracle for every lifting kernel.</summary>
public static class LiftingReference
{
    public static double[] Run(LiftingOp op, double[] y, int[] ys, double[] idxA, double[] idxD, int[] idxShape)
    {
        int b = ys[0], n = idxShape[1] * ys[2];
        var xa = LayerNormRowsReference.Run(op.XaNorm, FrameBlendReference.Run(op.Sample, y, ys, idxA, idxShape),
            [b * n, op.Channels]);
        var xd = LayerNormRowsReference.Run(op.XdNorm, FrameBlendReference.Run(op.Sample, y, ys, idxD, idxShape),
            [b * n, op.Channels]);
        // Updater: Xa' = Xa + proj_a(CA(Xa, Xd)).
        var ua = DenseRowsReference.Run(op.ProjectA,
            CrossAttention(op, DenseRowsReference.Run(op.QA, xa), DenseRowsReference.Run(op.KvD, xd), b, n));
        for (int i = 0; i < xa.Length; i++) xa[i] += ua[i];
        // Predictor: Xd' = Xd − proj_d(CA(Xd, Xa')).
        var ud = DenseRowsReference.Run(op.ProjectD,
            CrossAttention(op, DenseRowsReference.Run(op.QD, xd), DenseRowsReference.Run(op.KvA, xa), b, n));
        for (int i = 0; i < xd.Length; i++) xd[i] -= ud[i];
        return xd;
    }

    /// <summary>q [B·N, C], kv [B·N, 2C] (K then V) → per head softmax(scale·Q_h K_hᵀ) V_h merged, +
    /// V.</summary>
    public static double[] CrossAttention(LiftingOp op, double[] q, double[] kv, int b, int n)
    {
        int c = op.Channels, hd = op.HeadDim;
        var o = new double[(long)b * n * c];
        var s = new double[n];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < op.Heads; h++)
                for (int i = 0; i < n; i++)
                {
                    long qr = ((long)bi * n + i) * c + h * hd;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < n; j++)
                    {
                        long kr = ((long)bi * n + j) * 2 * c + h * hd;
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += q[qr + d] * op.Scale * kv[kr + d];
                        s[j] = dot;
                        max = Math.Max(max, dot);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int d = 0; d < hd; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < n; j++) acc += s[j] * kv[((long)bi * n + j) * 2 * c + c + h * hd + d];
                        o[qr + d] = acc / sum + kv[((long)bi * n + i) * 2 * c + c + h * hd + d];
                    }
                }
        return o;
    }
}

namespace Dfer.Ops.RelPosAttention;

/// <summary>relposattn in float64, one row of logits at a time, straight from the definition.</summary>
public static class RelPosAttentionReference
{
    public static double[] Run(RelPosAttentionOp op, double[] q, double[] k, double[] v, int[] qs)
    {
        int batch = qs[0], heads = op.Heads, d = op.HeadDim, nq = op.Nq, nk = op.Nk;
        var (qt, qh, qw) = op.QGrid;
        var (kt, kh, kw) = op.KGrid;
        var y = new double[(long)batch * heads * nq * d];
        var logits = new double[nk];
        for (int bh = 0; bh < batch * heads; bh++)
        {
            long qBase = (long)bh * nq * d, kBase = (long)bh * nk * d;
            for (int n = 0; n < nq; n++)
            {
                long qRow = qBase + (long)n * d;
                int t = 0, yy = 0, x = 0;
                if (n > 0) { int i = n - 1; x = i % qw; yy = i / qw % qh; t = i / (qw * qh); }
                double max = double.NegativeInfinity;
                for (int m = 0; m < nk; m++)
                {
                    long kRow = kBase + (long)m * d;
                    double s = 0;
                    for (int j = 0; j < d; j++) s += q[qRow + j] * k[kRow + j];
                    s *= op.Scale;
                    if (n > 0 && m > 0)
                    {
                        int i = m - 1, x2 = i % kw, y2 = i / kw % kh, t2 = i / (kw * kh);
                        long rt = (long)RelPosAttentionOp.RelIndex(t, t2, qt, kt) * d;
                        long rh = (long)RelPosAttentionOp.RelIndex(yy, y2, qh, kh) * d;
                        long rw = (long)RelPosAttentionOp.RelIndex(x, x2, qw, kw) * d;
                        for (int j = 0; j < d; j++)
                            s += q[qRow + j] * ((double)op.RelT[rt + j] + op.RelH[rh + j] + op.RelW[rw + j]);
                    }
                    logits[m] = s;
                    max = Math.Max(max, s);
                }
                double sum = 0;
                for (int m = 0; m < nk; m++) { logits[m] = Math.Exp(logits[m] - max); sum += logits[m]; }
                for (int j = 0; j < d; j++)
                {
                    double acc = 0;
                    for (int m = 0; m < nk; m++) acc += logits[m] * v[kBase + (long)m * d + j];
                    acc /= sum;
                    if (op.ResidualPooling && n > 0) acc += q[qRow + j];
                    y[qRow + j] = acc;
                }
            }
        }
        return y;
    }
}

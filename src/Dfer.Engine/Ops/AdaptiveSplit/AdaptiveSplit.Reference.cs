namespace Dfer.Ops.AdaptiveSplit;

/// <summary>Plain loops in float64, straight from the definition: the oracle for every issm kernel.</summary>
public static class AdaptiveSplitReference
{
    public static double[] Run(AdaptiveSplitOp op, double[] x, int[] xs)
    {
        int b = xs[0], t = xs[1], m = xs[2], k = op.Count;
        var y = new double[(long)b * k];
        var p = new double[t * t];
        for (int bi = 0; bi < b; bi++)
        {
            long f = (long)bi * t * m;
            for (int i = 0; i < t; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < m; c++) dot += x[f + (long)i * m + c] * x[f + (long)j * m + c];
                    double s = op.SimilarityScale * dot;
                    p[i * t + j] = op.Negate ? -s : s;
                }
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < t; j++) max = Math.Max(max, p[i * t + j]);
                for (int j = 0; j < t; j++) sum += p[i * t + j] = Math.Exp(p[i * t + j] - max);
                for (int j = 0; j < t; j++) p[i * t + j] /= sum;
            }
            for (int ki = 0; ki < k; ki++)
            {
                double acc = 0;
                for (int e = 0; e < t * t; e++) acc += op.OffsetWeight[(long)ki * t * t + e] * p[e];
                y[(long)bi * k + ki] = op.BaseIndex[ki] + op.OffsetScale * Math.Tanh(acc);
            }
        }
        return y;
    }
}

namespace Dfer.Ops.Attention;

public static class AttentionReference
{
    public static double[] Run(AttentionOp op, double[] qkv, int[] xs)
    {
        int b = xs[0], len = xs[1], dim = op.Dim, d = op.HeadDim;
        var y = new double[(long)b * len * dim];
        var scores = new double[len];
        for (int bi = 0; bi < b; bi++)
            for (int head = 0; head < op.Heads; head++)
                for (int l = 0; l < len; l++)
                {
                    long q = ((long)bi * len + l) * 3 * dim + head * d;
                    double max = double.NegativeInfinity;
                    for (int m = 0; m < len; m++)
                    {
                        long k = ((long)bi * len + m) * 3 * dim + dim + head * d;
                        double s = 0;
                        for (int j = 0; j < d; j++) s += qkv[q + j] * qkv[k + j];
                        scores[m] = s * op.Scale;
                        max = Math.Max(max, scores[m]);
                    }
                    double sum = 0;
                    for (int m = 0; m < len; m++) { scores[m] = Math.Exp(scores[m] - max); sum += scores[m]; }
                    for (int j = 0; j < d; j++)
                    {
                        double acc = 0;
                        for (int m = 0; m < len; m++)
                            acc += scores[m] / sum * qkv[((long)bi * len + m) * 3 * dim + 2 * dim + head * d + j];
                        y[((long)bi * len + l) * dim + head * d + j] = acc;
                    }
                }
        return y;
    }
}

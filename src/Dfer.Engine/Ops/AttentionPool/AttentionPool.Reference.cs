namespace Dfer.Ops.AttentionPool;

/// <summary>
/// The fused head in plain float64 loops, written from the formula of <see cref="AttentionPoolOp"/>
/// (not by calling the other ops' references), so it checks the composition independently.
/// </summary>
public static class AttentionPoolReference
{
    public static double[] Run(AttentionPoolOp op, double[] x, int[] xs)
    {
        int batch = xs[0], n = op.Instances, d = op.Dim, heads = op.Heads, dh = op.HeadDim;
        int k = op.ConvKernel, pad = op.ConvPad, lout = op.PooledLength, classes = op.Classes;
        double wm0 = Softmax2(op.MeanWeight, 0), wm1 = Softmax2(op.MeanWeight, 1);
        double wv0 = Softmax2(op.VarWeight, 0), wv1 = Softmax2(op.VarWeight, 1);
        var logits = new double[(long)batch * classes];
        var qkv = new double[n, 3 * d];
        var y = new double[n, d];
        var g = new double[n, d];
        var pooled = new double[lout];
        var scores = new double[n];
        var meanIn = new double[d];
        var varIn = new double[d];
        for (int b = 0; b < batch; b++)
        {
            double X(int l, int c) => x[((long)b * n + l) * d + c];

            // 1. projection
            for (int l = 0; l < n; l++)
                for (int o = 0; o < 3 * d; o++)
                {
                    double s = 0;
                    for (int c = 0; c < d; c++) s += op.QkvWeight[(long)o * d + c] * X(l, c);
                    qkv[l, o] = s;
                }

            // 2. attention per head over the n instances
            for (int h = 0; h < heads; h++)
                for (int l = 0; l < n; l++)
                {
                    double max = double.NegativeInfinity;
                    for (int m = 0; m < n; m++)
                    {
                        double s = 0;
                        for (int j = 0; j < dh; j++) s += qkv[l, h * dh + j] * qkv[m, d + h * dh + j];
                        scores[m] = s * op.Scale;
                        max = Math.Max(max, scores[m]);
                    }
                    double sum = 0;
                    for (int m = 0; m < n; m++) sum += scores[m] = Math.Exp(scores[m] - max);
                    for (int j = 0; j < dh; j++)
                    {
                        double acc = 0;
                        for (int m = 0; m < n; m++) acc += scores[m] / sum * qkv[m, 2 * d + h * dh + j];
                        y[l, h * dh + j] = acc;
                    }
                }

            // 3. DMIN: instance statistics per channel, layer statistics over channels
            double meanLn = 0, sqLn = 0;
            for (int c = 0; c < d; c++)
            {
                double s = 0;
                for (int l = 0; l < n; l++) s += y[l, c];
                double mu = s / n, v = 0;
                for (int l = 0; l < n; l++) v += (y[l, c] - mu) * (y[l, c] - mu);
                meanIn[c] = mu;
                varIn[c] = v / (n - 1);
                meanLn += mu;
                sqLn += varIn[c] + mu * mu;
            }
            meanLn /= d;
            double varLn = sqLn / d - meanLn * meanLn;

            // 4. gate
            for (int c = 0; c < d; c++)
            {
                double mean = wm0 * meanIn[c] + wm1 * meanLn;
                double var = wv0 * varIn[c] + wv1 * varLn;
                for (int l = 0; l < n; l++)
                {
                    double z = (y[l, c] - mean) / Math.Sqrt(var + op.Eps) * op.NormWeight[c] + op.NormBias[c];
                    g[l, c] = X(l, c) / (1 + Math.Exp(-z));
                }
            }

            // 5. pwconv: instances are the channels, features the length
            for (int t = 0; t < lout; t++)
            {
                double s = op.ConvBias;
                for (int i = 0; i < n; i++)
                    for (int kk = 0; kk < k; kk++)
                    {
                        int p = t - pad + kk;
                        if (p >= 0 && p < d) s += op.ConvWeight[i * k + kk] * g[i, p];
                    }
                pooled[t] = s;
            }

            // 6. fc
            for (int cls = 0; cls < classes; cls++)
            {
                double s = op.FcBias[cls];
                for (int t = 0; t < lout; t++) s += op.FcWeight[(long)cls * lout + t] * pooled[t];
                logits[(long)b * classes + cls] = s;
            }
        }
        return logits;
    }

    /// <summary>softmax of a 2-vector, element <paramref name="i"/>.</summary>
    internal static double Softmax2(float[] w, int i)
    {
        double m = Math.Max(w[0], w[1]);
        double a = Math.Exp(w[0] - m), b = Math.Exp(w[1] - m);
        return (i == 0 ? a : b) / (a + b);
    }
}

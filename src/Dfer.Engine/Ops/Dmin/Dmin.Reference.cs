namespace Dfer.Ops.Dmin;

public static class DminReference
{
    public static double[] Run(DminOp op, double[] x, int[] xs)
    {
        int b = xs[0], n = xs[1], c = xs[2];
        var (wm0, wm1) = Softmax2(op.MeanWeight);
        var (wv0, wv1) = Softmax2(op.VarWeight);
        var y = new double[x.Length];
        var meanIn = new double[c];
        var varIn = new double[c];
        for (int bi = 0; bi < b; bi++)
        {
            double meanLn = 0, sqLn = 0;
            for (int ch = 0; ch < c; ch++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += x[((long)bi * n + i) * c + ch];
                double m = s / n, v = 0;
                for (int i = 0; i < n; i++) { double dlt = x[((long)bi * n + i) * c + ch] - m; v += dlt * dlt; }
                meanIn[ch] = m;
                varIn[ch] = v / (n - 1);
                meanLn += m;
                sqLn += varIn[ch] + m * m;
            }
            meanLn /= c;
            double varLn = sqLn / c - meanLn * meanLn;
            for (int ch = 0; ch < c; ch++)
            {
                double mean = wm0 * meanIn[ch] + wm1 * meanLn;
                double var = wv0 * varIn[ch] + wv1 * varLn;
                double inv = 1.0 / Math.Sqrt(var + op.Eps);
                for (int i = 0; i < n; i++)
                {
                    long k = ((long)bi * n + i) * c + ch;
                    y[k] = (x[k] - mean) * inv * op.Weight[ch] + op.Bias[ch];
                }
            }
        }
        return y;
    }

    internal static (double, double) Softmax2(float[] w)
    {
        double m = Math.Max(w[0], w[1]);
        double a = Math.Exp(w[0] - m), b = Math.Exp(w[1] - m);
        return (a / (a + b), b / (a + b));
    }
}

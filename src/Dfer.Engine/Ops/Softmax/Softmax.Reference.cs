namespace Dfer.Ops.Softmax;

public static class SoftmaxReference
{
    public static double[] Run(double[] x, int[] xs)
    {
        int n = xs[^1];
        var y = new double[x.Length];
        for (long r = 0; r < x.Length / n; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < n; i++) max = Math.Max(max, x[r * n + i]);
            for (int i = 0; i < n; i++) sum += y[r * n + i] = Math.Exp(x[r * n + i] - max);
            for (int i = 0; i < n; i++) y[r * n + i] /= sum;
        }
        return y;
    }
}

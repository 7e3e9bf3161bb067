namespace Dfer.Primitives.Reference;

/// <summary>Plain loops in float64: LayerNorm over the last axis (biased variance). The oracle under layernorm,
/// tokenpool and lifting.</summary>

public static class LayerNormRowsReference
{
    public static double[] Run(LayerNormWeights op, double[] x, int[] xs)
    {
        int c = xs[^1];
        long rows = x.Length / c;
        var y = new double[x.Length];
        for (long r = 0; r < rows; r++)
        {
            long b = r * c;
            double sum = 0;
            for (int i = 0; i < c; i++) sum += x[b + i];
            double mean = sum / c, sq = 0;
            for (int i = 0; i < c; i++) { double d = x[b + i] - mean; sq += d * d; }
            double inv = 1.0 / Math.Sqrt(sq / c + op.Eps);
            for (int i = 0; i < c; i++) y[b + i] = (x[b + i] - mean) * inv * op.Weight[i] + op.Bias[i];
        }
        return y;
    }
}

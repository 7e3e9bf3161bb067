namespace Dfer.Ops.PosEmbed;

/// <summary>The positional add in float64: each output value finds its table row and column by index arithmetic on
/// x's shape.</summary>
public static class PosEmbedReference
{
    public static double[] Run(PosEmbedOp op, double[] x, int[] xs)
    {
        int l = xs[1], d = xs[2];
        var y = new double[x.Length];
        for (long i = 0; i < x.Length; i++)
        {
            long row = i / d % l, col = i % d;
            y[i] = x[i] + (double)op.Table[row * op.Dim + col];
        }
        return y;
    }
}

namespace Dfer.Ops.ClassToken;

/// <summary>Plain loops in float64: the oracle for every class-token kernel.</summary>
public static class ClassTokenReference
{
    public static double[] Run(ClassTokenOp op, double[] x, int[] xs)
    {
        int b = xs[0], n = xs[1], c = xs[2];
        var y = new double[(long)b * (n + 1) * c];
        for (int bi = 0; bi < b; bi++)
        {
            long dst = (long)bi * (n + 1) * c;
            for (int ci = 0; ci < c; ci++) y[dst + ci] = op.Token[ci];
            for (int t = 0; t < n; t++)
                for (int ci = 0; ci < c; ci++)
                    y[dst + (long)(t + 1) * c + ci] = x[((long)bi * n + t) * c + ci];
        }
        return y;
    }
}

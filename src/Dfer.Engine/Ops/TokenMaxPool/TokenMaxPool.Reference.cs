using Dfer.Primitives.Reference;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>Plain loops in float64: the oracle for every tokenmaxpool kernel.</summary>
public static class TokenMaxPoolReference
{
    public static double[] Run(TokenMaxPoolOp op, double[] x, int[] xs)
    {
        op.OutputShape(new[] { xs });
        int b = xs[0], c = xs[2], nIn = op.InTokens - 1, nOut = op.OutTokens - 1;
        var vol = new double[(long)b * nIn * c];
        for (int bi = 0; bi < b; bi++)
            Array.Copy(x, ((long)bi * op.InTokens + 1) * c, vol, (long)bi * nIn * c, (long)nIn * c);
        double[] pooled =
            WindowMax3dReference.Run(op.Pool, vol, new[] { b, op.Grid.T, op.Grid.H, op.Grid.W, c }, op.OutGrid);
        var y = new double[(long)b * op.OutTokens * c];
        for (int bi = 0; bi < b; bi++)
        {
            Array.Copy(x, (long)bi * op.InTokens * c, y, (long)bi * op.OutTokens * c, c);
            Array.Copy(pooled, (long)bi * nOut * c, y, ((long)bi * op.OutTokens + 1) * c, (long)nOut * c);
        }
        return y;
    }
}

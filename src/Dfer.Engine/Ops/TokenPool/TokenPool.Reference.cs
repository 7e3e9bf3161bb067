using Dfer.Primitives.Reference;

namespace Dfer.Ops.TokenPool;

/// <summary>Plain loops in float64: the oracle for every tokenpool kernel.</summary>
public static class TokenPoolReference
{
    public static double[] Run(TokenPoolOp op, double[] x, int[] xs)
    {
        int[] ys = op.OutputShape(new[] { xs });
        int b = xs[0], heads = op.Heads, d = op.HeadDim, nIn = op.InTokens - 1, nOut = op.OutTokens - 1,
            p = op.InChannels;
        var (t, h, w) = op.Grid;
        // Every (batch item, head) becomes one volume of the conv's batch.
        var vol = new double[(long)b * heads * nIn * d];
        for (int bi = 0; bi < b; bi++)
            for (int hd = 0; hd < heads; hd++)
                for (int n = 0; n < nIn; n++)
                    for (int j = 0; j < d; j++)
                        vol[(((long)bi * heads + hd) * nIn + n) * d + j] =
                            x[((long)bi * op.InTokens + 1 + n) * p + (op.Part * heads + hd) * d + j];
        double[] pooled =
            DepthwiseConvolution3dReference.Run(op.Conv, vol, new[] { b * heads, t, h, w, d }, op.OutGrid);
        var y = new double[(long)b * heads * op.OutTokens * d];
        for (int bi = 0; bi < b; bi++)
            for (int hd = 0; hd < heads; hd++)
            {
                long row = ((long)bi * heads + hd) * op.OutTokens;
                for (int j = 0; j < d; j++)
                    y[row * d + j] = x[(long)bi * op.InTokens * p + (op.Part * heads + hd) * d + j];
                for (int n = 0; n < nOut; n++)
                    for (int j = 0; j < d; j++)
                        y[(row + 1 + n) * d + j] = pooled[(((long)bi * heads + hd) * nOut + n) * d + j];
            }
        return LayerNormRowsReference.Run(op.Norm, y, ys);
    }
}

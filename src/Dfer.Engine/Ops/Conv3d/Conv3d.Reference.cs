namespace Dfer.Ops.Conv3d;

/// <summary>Plain loops with double accumulation: the oracle every conv3d kernel is checked against.</summary>
public static class Conv3dReference
{
    public static double[] Run(Conv3dOp op, double[] x, int[] xs, double[]? residual)
    {
        var ys = op.ConvOutputShape(xs);
        int to = ys[1], ho = ys[2], wo = ys[3];
        int n = xs[0], t = xs[1], h = xs[2], w = xs[3], c = xs[4];
        int co = op.Cout;
        var (kt, kh, kw) = op.Kernel;
        var y = new double[(long)n * to * ho * wo * co];
        for (int b = 0; b < n; b++)
            for (int ot = 0; ot < to; ot++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                        for (int o = 0; o < co; o++)
                        {
                            double acc = op.Bias[o];
                            for (int a = 0; a < kt; a++)
                            {
                                int it = ot * op.Stride.T - op.Pad.T + a;
                                if (it < 0 || it >= t) continue;
                                for (int bb = 0; bb < kh; bb++)
                                {
                                    int ih = oh * op.Stride.H - op.Pad.H + bb;
                                    if (ih < 0 || ih >= h) continue;
                                    for (int cc = 0; cc < kw; cc++)
                                    {
                                        int iw = ow * op.Stride.W - op.Pad.W + cc;
                                        if (iw < 0 || iw >= w) continue;
                                        long xBase = ((((long)b * t + it) * h + ih) * w + iw) * c;
                                        for (int i = 0; i < c; i++)
                                            acc += x[xBase + i]
                                                * op.Weight[((((long)o * c + i) * kt + a) * kh + bb) * kw + cc];
                                    }
                                }
                            }
                            long yi = ((((long)b * to + ot) * ho + oh) * wo + ow) * co + o;
                            if (residual != null) acc += residual[yi];
                            y[yi] = op.Relu ? Math.Max(acc, 0) : acc;
                        }
        return y;
    }
}

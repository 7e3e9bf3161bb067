namespace Dfer.Ops.MaxPool3d;

public static class MaxPool3dReference
{
    public static double[] Run(MaxPool3dOp op, double[] x, int[] xs)
    {
        int n = xs[0], t = xs[1], h = xs[2], w = xs[3], c = xs[4];
        int[] ys = op.OutputShape(new[] { xs });
        int to = ys[1], ho = ys[2], wo = ys[3];
        var y = new double[(long)n * to * ho * wo * c];
        long k = 0;
        for (int b = 0; b < n; b++)
            for (int ot = 0; ot < to; ot++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            double m = double.NegativeInfinity;
                            for (int a = 0; a < op.Kernel.T; a++)
                                for (int bb = 0; bb < op.Kernel.H; bb++)
                                    for (int d = 0; d < op.Kernel.W; d++)
                                    {
                                        int it = ot * op.Stride.T - op.Pad.T + a, ih = oh * op.Stride.H - op.Pad.H + bb, iw = ow * op.Stride.W - op.Pad.W + d;
                                        if (it < 0 || it >= t || ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                        double v = x[((((long)b * t + it) * h + ih) * w + iw) * c + ch];
                                        // NaN wins, as in PyTorch.
                                        if (v > m || double.IsNaN(v)) m = v;
                                    }
                            y[k++] = m;
                        }
        return y;
    }
}

namespace Dfer.Ops.MaxPool2d;

public static class MaxPool2dReference
{
    public static double[] Run(MaxPool2dOp op, double[] x, int[] xs)
    {
        int n = xs[0], h = xs[1], w = xs[2], c = xs[3];
        int[] ys = op.OutputShape(new[] { xs });
        int ho = ys[1], wo = ys[2];
        var y = new double[(long)n * ho * wo * c];
        long k = 0;
        for (int b = 0; b < n; b++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        double m = double.NegativeInfinity;
                        for (int a = 0; a < op.Kernel.H; a++)
                            for (int d = 0; d < op.Kernel.W; d++)
                            {
                                int ih = oh * op.Stride.H - op.Pad.Top + a, iw = ow * op.Stride.W - op.Pad.Left + d;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                double v = x[(((long)b * h + ih) * w + iw) * c + ch];
                                if (v > m || double.IsNaN(v)) m = v;
                                if (double.IsNaN(m)) goto done;
                            }
                    done:
                        y[k++] = m;
                    }
        return y;
    }
}

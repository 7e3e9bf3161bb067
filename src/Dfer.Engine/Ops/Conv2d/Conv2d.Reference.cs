namespace Dfer.Ops.Conv2d;

/// <summary>Plain loops with double accumulation: the oracle every conv2d kernel is checked against.</summary>
public static class Conv2dReference
{
    public static double[] Run(Conv2dOp op, double[] x, int[] xs, double[]? residual = null)
    {
        int n = xs[0], h = xs[1], w = xs[2], c = xs[3], co = op.Cout;
        var (kh, kw) = op.Kernel;
        int ho = Conv2dOp.OutExtent(h, kh, op.Stride.H, op.Pad.H, op.Dilation.H);
        int wo = Conv2dOp.OutExtent(w, kw, op.Stride.W, op.Pad.W, op.Dilation.W);
        var y = new double[(long)n * ho * wo * co];
        for (int b = 0; b < n; b++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int o = 0; o < co; o++)
                    {
                        double acc = op.Bias?[o] ?? 0.0;
                        for (int a = 0; a < kh; a++)
                        {
                            int ih = oh * op.Stride.H - op.Pad.H + a * op.Dilation.H;
                            if (ih < 0 || ih >= h) continue;
                            for (int d = 0; d < kw; d++)
                            {
                                int iw = ow * op.Stride.W - op.Pad.W + d * op.Dilation.W;
                                if (iw < 0 || iw >= w) continue;
                                long xb = (((long)b * h + ih) * w + iw) * c;
                                for (int i = 0; i < c; i++)
                                    acc += x[xb + i] * op.Weight[(((long)o * c + i) * kh + a) * kw + d];
                            }
                        }
                        long at = (((long)b * ho + oh) * wo + ow) * co + o;
                        if (op.Residual) acc += residual![at];
                        y[at] = ActivationMath.Apply(op.Act, acc);
                    }
        return y;
    }
}

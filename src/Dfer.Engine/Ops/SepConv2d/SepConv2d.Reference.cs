namespace Dfer.Ops.SepConv2d;

/// <summary>Plain loops with double accumulation: the oracle every sepconv2d kernel is checked against.</summary>
public static class SepConv2dReference
{
    public static double[] Run(SepConv2dOp op, double[] x, int[] xs)
    {
        var ys = op.OutputShape(new[] { xs });
        int n = xs[0], h = xs[1], w = xs[2], c = xs[3], ho = ys[1], wo = ys[2], co = op.Cout;
        var (kh, kw) = op.Kernel;
        var d = new double[c];
        var y = new double[(long)n * ho * wo * co];
        for (int b = 0; b < n; b++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    for (int ch = 0; ch < c; ch++)
                    {
                        double acc = 0;
                        for (int a = 0; a < kh; a++)
                        {
                            int ih = oh * op.Stride.H - op.Pad.Top + a;
                            if (ih < 0 || ih >= h) continue;
                            for (int e = 0; e < kw; e++)
                            {
                                int iw = ow * op.Stride.W - op.Pad.Left + e;
                                if (iw < 0 || iw >= w) continue;
                                acc += x[(((long)b * h + ih) * w + iw) * c + ch]
                                    * op.Depthwise[((long)ch * kh + a) * kw + e];
                            }
                        }
                        d[ch] = acc;
                    }
                    long yb = (((long)b * ho + oh) * wo + ow) * co;
                    for (int o = 0; o < co; o++)
                    {
                        double acc = op.Bias?[o] ?? 0.0;
                        if (op.Pointwise == null) acc += d[o];
                        else for (int ch = 0; ch < c; ch++) acc += d[ch] * op.Pointwise[(long)o * c + ch];
                        y[yb + o] = ActivationMath.Apply(op.Act, acc);
                    }
                }
        return y;
    }
}

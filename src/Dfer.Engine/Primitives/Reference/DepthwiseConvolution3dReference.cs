namespace Dfer.Primitives.Reference;

/// <summary>
/// Plain loops with double accumulation: depthwise 3D convolution of channels-last [N,T,H,W,C] into
/// [N,To,Ho,Wo,C], x zero outside its extent. The oracle under dwconv3d and tokenpool.
/// </summary>
public static class DepthwiseConvolution3dReference
{
    public static double[] Run(DepthwiseConv3dWeights op, double[] x, int[] xs, (int T, int H, int W) outGrid)
    {
        int n = xs[0], t = xs[1], h = xs[2], w = xs[3], c = xs[4];
        var (to, ho, wo) = outGrid;
        var (kt, kh, kw) = op.Kernel;
        var y = new double[(long)n * to * ho * wo * c];
        for (int b = 0; b < n; b++)
            for (int ot = 0; ot < to; ot++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            double acc = op.Bias?[ch] ?? 0.0;
                            for (int a = 0; a < kt; a++)
                            {
                                int it = ot * op.Stride.T - op.Pad.T + a;
                                if (it < 0 || it >= t) continue;
                                for (int bb = 0; bb < kh; bb++)
                                {
                                    int ih = oh * op.Stride.H - op.Pad.H + bb;
                                    if (ih < 0 || ih >= h) continue;
                                    for (int d = 0; d < kw; d++)
                                    {
                                        int iw = ow * op.Stride.W - op.Pad.W + d;
                                        if (iw < 0 || iw >= w) continue;
                                        acc += x[((((long)b * t + it) * h + ih) * w + iw) * c + ch]
                                            * op.Weight[(((long)ch * kt + a) * kh + bb) * kw + d];
                                    }
                                }
                            }
                            y[((((long)b * to + ot) * ho + oh) * wo + ow) * c + ch] = acc;
                        }
        return y;
    }
}

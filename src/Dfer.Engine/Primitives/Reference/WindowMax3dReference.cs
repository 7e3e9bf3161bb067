namespace Dfer.Primitives.Reference;

/// <summary>
/// Plain loops in float64: 3D window max of channels-last [N,T,H,W,C] into [N,To,Ho,Wo,C], out-of-bounds
/// positions skipped (−∞ padding), NaN wins as in PyTorch. The oracle under maxpool3d and tokenmaxpool.
/// </summary>
public static class WindowMax3dReference
{
    public static double[] Run(Pool3dGeometry g, double[] x, int[] xs, (int T, int H, int W) outGrid)
    {
        int n = xs[0], t = xs[1], h = xs[2], w = xs[3], c = xs[4];
        var (to, ho, wo) = outGrid;
        var y = new double[(long)n * to * ho * wo * c];
        long k = 0;
        for (int b = 0; b < n; b++)
            for (int ot = 0; ot < to; ot++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            double m = double.NegativeInfinity;
                            for (int a = 0; a < g.Kernel.T; a++)
                                for (int bb = 0; bb < g.Kernel.H; bb++)
                                    for (int d = 0; d < g.Kernel.W; d++)
                                    {
                                        int it = ot * g.Stride.T - g.Pad.T + a, ih = oh * g.Stride.H - g.Pad.H + bb,
                                            iw = ow * g.Stride.W - g.Pad.W + d;
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

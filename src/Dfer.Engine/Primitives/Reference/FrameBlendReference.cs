namespace Dfer.Primitives.Reference;

/// <summary>Plain loops in float64: frame sampling (<see cref="FrameInterpolation"/>), the oracle under framesample and
/// lifting.</summary>
public static class FrameBlendReference
{
    public static double[] Run(FrameInterpolation op, double[] x, int[] xs, double[] index, int[] indexShape)
    {
        int b = xs[0], t = xs[1], slab = xs[2] * xs[3], k = indexShape[1];
        var y = new double[(long)b * k * slab];
        for (int bi = 0; bi < b; bi++)
            for (int ki = 0; ki < k; ki++)
            {
                long dst = ((long)bi * k + ki) * slab;
                if (double.IsNaN(index[bi * k + ki]))
                {
                    Array.Fill(y, double.NaN, (int)dst, slab);
                    continue;
                }
                double p = op.Position(index[bi * k + ki], t);
                int i0 = (int)Math.Floor(p);
                double w = p - i0;
                long src0 = ((long)bi * t + i0) * slab;
                for (int s = 0; s < slab; s++)
                {
                    double v = (1 - w) * x[src0 + s];
                    if (i0 + 1 < t) v += w * x[src0 + slab + s];
                    y[dst + s] = v;
                }
            }
        return y;
    }
}

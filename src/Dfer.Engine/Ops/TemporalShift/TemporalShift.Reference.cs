namespace Dfer.Ops.TemporalShift;

/// <summary>The temporal shift in float64, one output value at a time: which frame it reads, by channel.</summary>
public static class TemporalShiftReference
{
    public static double[] Run(TemporalShiftOp op, double[] x, int[] shape)
    {
        int frames = shape[0], c = shape[^1], fold = op.Fold(c);
        long perFrame = x.Length / frames;
        var y = new double[x.Length];
        for (int n = 0; n < frames; n++)
        {
            int t = n % op.Group;
            for (long i = 0; i < perFrame; i++)
            {
                int ch = (int)(i % c);
                int source = ch < fold ? n + 1 : ch < 2 * fold ? n - 1 : n;
                bool inGroup = source >= n - t && source < n - t + op.Group;
                y[n * perFrame + i] = inGroup ? x[source * perFrame + i] : 0.0;
            }
        }
        return y;
    }
}

namespace Dfer.Ops.FrameGather;

/// <summary>The gather in float64, one output value at a time: which clip, frame, row, column and channel it
/// reads.</summary>
public static class FrameGatherReference
{
    public static double[] Run(FrameGatherOp op, double[] x, int[] xs, double[]? indices)
    {
        int batch = xs[0], t = xs[1], c = xs[2], h = xs[3], w = xs[4];
        int k = op.Fixed?.Length ?? indices!.Length / batch;
        var y = new double[(long)batch * k * h * w * c];
        for (long i = 0; i < y.Length; i++)
        {
            int ch = (int)(i % c);
            long pixel = i / c;
            int col = (int)(pixel % w), row = (int)(pixel / w % h);
            long frame = pixel / ((long)w * h);
            int b = (int)(frame / k);
            double index = op.Fixed is { } f ? f[frame % k] : indices![frame];
            if (!(index >= 0 && index < t)) continue;
            long source = (long)b * t + (long)Math.Truncate(index);
            y[i] = x[((source * c + ch) * h + row) * w + col];
        }
        return y;
    }
}

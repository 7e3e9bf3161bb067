namespace Dfer.Ops.Slice;

/// <summary>Plain loops in float64: the oracle for every slice kernel.</summary>
public static class SliceReference
{
    public static double[] Run(SliceOp op, double[] x, int[] xs)
    {
        int[] ys = op.OutputShape(new[] { xs });
        var y = new double[Tensors.Tensor.ElementCountOf(ys)];
        long outer = 1, inner = 1;
        for (int d = 0; d < op.Axis; d++) outer *= xs[d];
        for (int d = op.Axis + 1; d < xs.Length; d++) inner *= xs[d];
        long o = 0;
        for (long q = 0; q < outer; q++)
            for (int a = op.Start; a < op.Start + op.Length; a++)
                for (long r = 0; r < inner; r++)
                    y[o++] = x[(q * xs[op.Axis] + a) * inner + r];
        return y;
    }
}

namespace Dfer.Ops.Conv1d;

/// <summary>conv1d in float64: each output value sums its window, skipping taps outside the input.</summary>
public static class Conv1dReference
{
    public static double[] Run(Conv1dOp op, double[] x, int[] xs)
    {
        int batch = xs[0], len = xs[2], lo = len + 2 * op.Pad - op.KernelSize + 1;
        var y = new double[(long)batch * op.Cout * lo];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < op.Cout; o++)
                for (int l = 0; l < lo; l++)
                {
                    double acc = op.Bias[o];
                    for (int i = 0; i < op.Cin; i++)
                        for (int k = 0; k < op.KernelSize; k++)
                        {
                            int p = l - op.Pad + k;
                            if (p >= 0 && p < len)
                                acc += (double)op.Weight[((long)o * op.Cin + i) * op.KernelSize + k]
                                    * x[((long)b * op.Cin + i) * len + p];
                        }
                    y[((long)b * op.Cout + o) * lo + l] = acc;
                }
        return y;
    }
}

namespace Dfer.Ops.Conv1d;

public static class Conv1dReference
{
    public static double[] Run(Conv1dOp op, double[] x, int[] xs)
    {
        int b = xs[0], len = xs[2], lo = len + 2 * op.Pad - op.KernelSize + 1;
        var y = new double[(long)b * op.Cout * lo];
        for (int bi = 0; bi < b; bi++)
        for (int o = 0; o < op.Cout; o++)
        for (int l = 0; l < lo; l++)
        {
            double acc = op.Bias[o];
            for (int i = 0; i < op.Cin; i++)
            for (int k = 0; k < op.KernelSize; k++)
            {
                int p = l - op.Pad + k;
                if (p >= 0 && p < len) acc += op.Weight[((long)o * op.Cin + i) * op.KernelSize + k] * x[((long)bi * op.Cin + i) * len + p];
            }
            y[((long)bi * op.Cout + o) * lo + l] = acc;
        }
        return y;
    }
}

namespace Dfer.Ops.Linear;

public static class LinearReference
{
    public static double[] Run(LinearOp op, double[] x)
    {
        long rows = x.Length / op.In;
        var y = new double[rows * op.Out];
        for (long r = 0; r < rows; r++)
            for (int o = 0; o < op.Out; o++)
            {
                double acc = op.Bias?[o] ?? 0;
                for (int i = 0; i < op.In; i++) acc += x[r * op.In + i] * op.Weight[(long)o * op.In + i];
                y[r * op.Out + o] = acc;
            }
        return y;
    }
}

namespace Dfer.Primitives.Reference;

/// <summary>Plain loops in float64: y = x·Wᵀ + b over rows of <see cref="LinearWeights.In"/> values, the oracle
/// under linear and lifting.</summary>

public static class DenseRowsReference
{
    public static double[] Run(LinearWeights op, double[] x)
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

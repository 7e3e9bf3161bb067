namespace Dfer.Ops.Gate;

/// <summary>The gate in float64: each output value finds its z by index arithmetic on the shapes.</summary>
public static class GateReference
{
    public static double[] Run(GateOp op, double[] x, double[] z, int[] xs, int[] zs)
    {
        var y = new double[x.Length];
        bool broadcast = GateOp.Broadcasts(xs, zs);
        long perSample = x.Length / xs[0];
        int d = xs[^1];
        for (long i = 0; i < x.Length; i++)
        {
            long j = broadcast ? i / perSample * d + i % d : i;
            y[i] = x[i] * ActivationMath.Apply(op.Act, z[j]);
        }
        return y;
    }
}

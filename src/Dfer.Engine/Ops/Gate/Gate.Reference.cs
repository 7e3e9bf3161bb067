namespace Dfer.Ops.Gate;

public static class GateReference
{
    public static double[] Run(double[] a, double[] b)
    {
        var y = new double[a.Length];
        for (int i = 0; i < a.Length; i++) y[i] = a[i] / (1.0 + Math.Exp(-b[i]));
        return y;
    }
}

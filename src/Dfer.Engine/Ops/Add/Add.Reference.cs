namespace Dfer.Ops.Add;

/// <summary>Plain loop in float64: the oracle for every add kernel.</summary>
public static class AddReference
{
    public static double[] Run(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"add: inputs have {a.Length} and {b.Length} values");
        var y = new double[a.Length];
        for (int i = 0; i < a.Length; i++) y[i] = a[i] + b[i];
        return y;
    }
}

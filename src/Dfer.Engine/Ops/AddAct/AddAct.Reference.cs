namespace Dfer.Ops.AddAct;

public static class AddActReference
{
    public static double[] Run(AddActOp op, IReadOnlyList<double[]> x)
    {
        var y = new double[x[0].Length];
        for (long i = 0; i < y.Length; i++)
        {
            double s = 0;
            for (int j = 0; j < x.Count; j++) s += x[j][i];
            y[i] = ActivationMath.Apply(op.Act, s);
        }
        return y;
    }
}

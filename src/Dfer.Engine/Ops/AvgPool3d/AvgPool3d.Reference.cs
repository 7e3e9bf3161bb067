namespace Dfer.Ops.AvgPool3d;

public static class AvgPool3dReference
{
    public static double[] Run(double[] x, int[] xs)
    {
        int n = xs[0], c = xs[4];
        long positions = (long)xs[1] * xs[2] * xs[3];
        var y = new double[(long)n * c];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                double s = 0;
                for (long p = 0; p < positions; p++) s += x[(b * positions + p) * c + ch];
                y[(long)b * c + ch] = s / positions;
            }
        return y;
    }
}

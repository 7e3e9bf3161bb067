namespace Dfer.Ops.Gelu;

/// <summary>GELU and erf in float64: erf by its Maclaurin series for |x| ≤ 1.5, erfc by its continued fraction beyond
/// (both to ~1e-15).</summary>
public static class GeluReference
{
    public static double[] Run(double[] x)
    {
        var y = new double[x.Length];
        for (long i = 0; i < x.Length; i++) y[i] = Gelu(x[i]);
        return y;
    }

    /// <summary>0.5·x·(1 + erf(x/√2)), written with erfc for negative x so the tail does not cancel.</summary>
    public static double Gelu(double x) =>
        x >= 0 ? 0.5 * x * (1 + Erf(x / Math.Sqrt(2))) : 0.5 * x * Erfc(-x / Math.Sqrt(2));

    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        if (a <= 1.5) return Series(x);
        return Math.Sign(x) * (1 - ErfcTail(a));
    }

    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x < -1.5) return 2 - ErfcTail(-x);
        return x <= 1.5 ? 1 - Series(x) : ErfcTail(x);
    }

    // erf(x) = 2/√π Σ_n (−1)^n x^(2n+1) / (n! (2n+1)); at |x| = 1.5 the terms stay below 2, so little cancels.
    private static double Series(double x)
    {
        double x2 = x * x, power = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            power *= -x2 / n;
            double term = power / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    // erfc(a) = exp(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), a > 1.5, evaluated from the bottom
    // (400 levels: converged to rounding from a = 1.5 on).
    private static double ErfcTail(double a)
    {
        if (double.IsPositiveInfinity(a)) return 0;
        double f = a;
        for (int k = 400; k >= 1; k--) f = a + k / 2.0 / f;
        return Math.Exp(-a * a) / (Math.Sqrt(Math.PI) * f);
    }
}

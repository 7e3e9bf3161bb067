namespace Dfer.Ops;

/// <summary>Result of comparing a kernel's output with the Reference.</summary>
public sealed record Comparison(double Nmse, double MaxAbsError, long WorstIndex, double Actual, double Expected,
    bool NanParity, bool Passed)
{
    public override string ToString() =>
        $"nmse={Nmse:E2} max_abs_err={MaxAbsError:E2} at [{WorstIndex}] (got {Actual:G9}, "
        + $"want {Expected:G9}){(NanParity ? "" : " NaN/Inf mismatch")}";
}

/// <summary>
/// How kernel outputs are judged against the Reference (docs/architecture.md, "Checking numerics"):
/// NMSE = Σ(a−b)²/Σb² ≤ <c>nmse</c> and every |a−b| ≤ atol + rtol·|b|, NaN/Inf where and only where the
/// Reference has them.
/// </summary>
public static class Numerics
{
    public const double Fp32Nmse = 1e-7;

    public static Comparison Compare(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected,
        double nmseBound = Fp32Nmse, double atol = 1e-5, double rtol = 1e-4)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"length {actual.Length} vs {expected.Length}");
        double num = 0, den = 0, worst = 0;
        long worstIdx = 0;
        bool parity = true, within = true;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], b = expected[i];
            if (!double.IsFinite(a) || !double.IsFinite(b))
            {
                if (double.IsNaN(a) ? !double.IsNaN(b)
                    : a != b) { parity = false; worstIdx = i; worst = double.PositiveInfinity; }
                continue;
            }
            double d = Math.Abs(a - b);
            num += d * d;
            den += b * b;
            if (d > atol + rtol * Math.Abs(b)) within = false;
            if (d > worst) { worst = d; worstIdx = i; }
        }
        double nmse = den > 0 ? num / den : num;
        bool ok = parity && within && nmse <= nmseBound;
        return new Comparison(nmse, worst, worstIdx, actual.Length == 0 ? 0 : actual[(int)worstIdx],
            actual.Length == 0 ? 0 : expected[(int)worstIdx], parity, ok);
    }
}

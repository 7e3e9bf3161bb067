using System.Runtime.Intrinsics;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// Per-column statistics of a dense row-major [rows, cols] block in fp32: two passes (the sum, then
/// the squared deviations from the mean), eight columns at a time with AVX where the hardware has
/// it. Used for the instance statistics of DMIN, where rows are a sample's few instances and
/// columns its features, so the vectors run along contiguous memory.
/// </summary>
public static unsafe class ColumnStatistics
{
    /// <summary><paramref name="mean"/>[c] and the unbiased <paramref name="variance"/>[c] (divisor rows − 1) of
    /// every column; rows ≥ 2.</summary>
    public static void MeanAndUnbiasedVariance(float* x, int rows, int cols, float* mean, float* variance)
    {
        if (rows < 2)
            throw new ArgumentException($"column statistics: the unbiased variance needs at least 2 rows, got {rows}");
        float invRows = 1f / rows, invDof = 1f / (rows - 1);
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vInvRows = Vector256.Create(invRows);
            var vInvDof = Vector256.Create(invDof);
            for (; c <= cols - 8; c += 8)
            {
                var s = Vector256<float>.Zero;
                for (int r = 0; r < rows; r++) s += Vector256.Load(x + (long)r * cols + c);
                var m = s * vInvRows;
                var q = Vector256<float>.Zero;
                for (int r = 0; r < rows; r++)
                {
                    var d = Vector256.Load(x + (long)r * cols + c) - m;
                    q += d * d;
                }
                m.Store(mean + c);
                (q * vInvDof).Store(variance + c);
            }
        }
        for (; c < cols; c++)
        {
            float s = 0;
            for (int r = 0; r < rows; r++) s += x[(long)r * cols + c];
            float m = s * invRows, q = 0;
            for (int r = 0; r < rows; r++)
            {
                float d = x[(long)r * cols + c] - m;
                q += d * d;
            }
            mean[c] = m;
            variance[c] = q * invDof;
        }
    }

    /// <summary>
    /// The mean of <paramref name="mean"/> and the variance of the whole block given its columns'
    /// means and (biased or not, as given) variances: mean_c(var_c) + mean_c((mean_c − μ)²), the
    /// between-column term taken about μ so nothing subtracts two large close numbers.
    /// </summary>
    public static (float Mean, float Variance) Pooled(float* mean, float* variance, int cols)
    {
        float mu = 0, within = 0;
        for (int c = 0; c < cols; c++) { mu += mean[c]; within += variance[c]; }
        mu /= cols;
        float between = 0;
        for (int c = 0; c < cols; c++)
        {
            float d = mean[c] - mu;
            between += d * d;
        }
        return (mu, (within + between) / cols);
    }
}

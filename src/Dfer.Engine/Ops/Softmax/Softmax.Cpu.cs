using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Softmax;

/// <summary>
/// Softmax over the last axis. Where <see cref="Vector256"/> is accelerated (and <see cref="CpuVariants.Portable"/>
/// is off), eight lanes at a time: a vector max, exponentials through <see cref="VectorExp"/> summed in eight
/// partial sums (a row's tail is padded with −∞, which adds 0), then one vector division per eight outputs.
/// The portable path is the one-pass online softmax: a running maximum m and a sum rescaled by e^(m_old − m_new)
/// whenever the maximum grows, then e^(x − m)/sum. Both give what the Reference gives on special values: a row
/// whose maximum is not finite (a NaN, a +∞, or all −∞) is all NaN, a NaN anywhere makes the sum and so the row
/// NaN, and a −∞ beside finite values is 0.
/// </summary>
public sealed unsafe class SoftmaxCpu : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "softmax");
        int n = x.Shape[^1];
        long rows = x.ElementCount / n;
        bool vector = Vector256.IsHardwareAccelerated && !ctx.Variants.Portable;
        for (long r = 0; r < rows; r++)
        {
            float* xr = x.Data + r * n, yr = output.Data + r * n;
            if (vector) VectorRow(xr, yr, n);
            else OnlineRow(xr, yr, n);
        }
    }

    private static void VectorRow(float* x, float* y, int n)
    {
        int full = n & ~7, i;
        float max = float.NegativeInfinity;
        if (full > 0)
        {
            var m = Vector256.Load(x);
            for (i = 8; i < full; i += 8) m = Vector256.Max(m, Vector256.Load(x + i));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, m.GetElement(l));
        }
        for (i = full; i < n; i++) max = MathF.Max(max, x[i]);
        if (!float.IsFinite(max))
        {
            new Span<float>(y, n).Fill(float.NaN);
            return;
        }
        var mv = Vector256.Create(max);
        var sums = Vector256<float>.Zero;
        for (i = 0; i < full; i += 8)
        {
            var e = VectorExp.Exp(Vector256.Load(x + i) - mv);
            e.Store(y + i);
            sums += e;
        }
        if (full < n)
        {
            float* tail = stackalloc float[8];
            new Span<float>(tail, 8).Fill(float.NegativeInfinity);
            new ReadOnlySpan<float>(x + full, n - full).CopyTo(new Span<float>(tail, 8));
            var e = VectorExp.Exp(Vector256.Load(tail) - mv);
            sums += e;
            e.Store(tail);
            new ReadOnlySpan<float>(tail, n - full).CopyTo(new Span<float>(y + full, n - full));
        }
        float sum = Vector256.Sum(sums);
        var sv = Vector256.Create(sum);
        for (i = 0; i < full; i += 8) (Vector256.Load(y + i) / sv).Store(y + i);
        for (i = full; i < n; i++) y[i] /= sum;
    }

    private static void OnlineRow(float* x, float* y, int n)
    {
        float m = float.NegativeInfinity, sum = 0;
        for (int i = 0; i < n; i++)
        {
            float v = x[i];
            if (v > m)
            {
                // e^(m − v) is 0 while m is −∞ (sum is 0 then too) and when v is +∞
                sum = sum * MathF.Exp(m - v) + 1;
                m = v;
            }
            // −∞ would add e^−∞ = 0, so it is skipped (while m is −∞ too, e^(−∞ + ∞) would be NaN); NaN makes the
            // sum NaN
            else if (v != float.NegativeInfinity) sum += MathF.Exp(v - m);
        }
        if (!float.IsFinite(m))
        {
            new Span<float>(y, n).Fill(float.NaN);
            return;
        }
        for (int i = 0; i < n; i++) y[i] = MathF.Exp(x[i] - m) / sum;
    }
}

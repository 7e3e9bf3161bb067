using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Gelu;

/// <summary>Exact GELU on the CPU: work items are 16K-element slices of the flat tensor, each element through
/// <see cref="ErfF.Gelu"/>.</summary>
public sealed unsafe class GeluCpu : ICpuKernel
{
    private const int Slice = 16384;
    private readonly Work _work = new();

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "gelu");
        _work.X = x; _work.Y = output; _work.Count = x.ElementCount; _work.Vector = !ctx.Variants.Portable;
        ctx.Pool.Run(_work, (int)((x.ElementCount + Slice - 1) / Slice));
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        public Tensor? X, Y;
        public long Count;
        public bool Vector;

        public void Execute(int item, int thread)
        {
            float* x = X!.Data, y = Y!.Data;
            long i = (long)item * Slice, end = Math.Min(Count, (long)(item + 1) * Slice);
            if (Vector256.IsHardwareAccelerated && Vector)
                for (; i + 8 <= end; i += 8)
                {
                    var v = Vector256.Load(x + i);
                    if (Vector256.LessThanAll(Vector256.Abs(v), Vector256.Create(float.PositiveInfinity)))
                        GeluVector(v).Store(y + i);
                    else
                        // ±∞ and NaN lanes: the scalar rules
                        for (int j = 0; j < 8; j++) y[i + j] = ErfF.Gelu(x[i + j]);
                }
            for (; i < end; i++) y[i] = ErfF.Gelu(x[i]);
        }
    }

    /// <summary>
    /// <see cref="ErfF.Gelu"/>'s pieces for eight finite values at once, each piece computed for every
    /// lane and the right one selected: with a = |x|/√2, x ≥ 0 takes 0.5·x·(1 + erf a) (erf from
    /// the small-argument polynomial below 1, 1 − erfc tail above), x &lt; 0 takes 0.5·x·erfc(a)
    /// (1 − small below 0.5, the middle fit below 1, the tail above).
    /// </summary>
    internal static Vector256<float> GeluVector(Vector256<float> x)
    {
        var one = Vector256<float>.One;
        var a = Vector256.Abs(x) * Vector256.Create(0.70710678118654752f);
        var a2 = a * a;
        var small = a * ErfF.SmallPoly(a2);
        var e = Vector256.Exp(-a2);
        var mid = e * ErfF.MiddlePoly(a - Vector256.Create(0.75f));
        var t = one / Vector256.Max(a, one);
        var tail = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(10f)),
            e * t * ErfF.TailPoly(t - Vector256.Create(0.55f)), Vector256<float>.Zero);
        var below1 = Vector256.LessThan(a, one);
        var positive = Vector256.ConditionalSelect(below1, one + small, Vector256.Create(2f) - tail);
        var negative = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(0.5f)), one - small,
            Vector256.ConditionalSelect(below1, mid, tail));
        var factor = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), positive,
            negative);
        return Vector256.Create(0.5f) * x * factor;
    }
}

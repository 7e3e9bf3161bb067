using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.BoxDecode;

/// <summary>
/// Box decoding on the CPU in two passes over the flat tensor (a few hundred boxes per image, so one thread).
/// First every raw value goes through its pointwise function in place in the output, whatever box it belongs to:
/// the i-th value is t_(i mod 5), so t0, t1 and t4 become σ(t) = 1/(1 + e^−t) and t2, t3 become e^t. Where
/// <see cref="Vector256"/> is accelerated (and <see cref="CpuVariants.Portable"/> is off) that is eight values
/// at a time, with <see cref="VectorExp"/> and the signs and choices of one of the five eight-lane phases of the
/// period-5 pattern. Then each box is assembled from its five values with per-anchor half sizes
/// hw = Aw/(2·Gw), hh = Ah/(2·Gh): x0 = (c + σ0)·(1/Gw) − e2·hw, y0 = (r + σ1)·(1/Gh) − e3·hh,
/// x1 = x0 + 2·e2·hw, y1 = y0 + 2·e3·hh. Special values follow the formula as the Reference does (an infinite
/// width gives x0 = −∞ and x1 = −∞ + ∞ = NaN).
/// </summary>
public sealed unsafe class BoxDecodeCpu(BoxDecodeOp op) : ICpuKernel
{
    /// <summary>Per phase p (the (8p)-th value of a 40-value period), per lane: −1 where the value is a σ's argument,
    /// +1 where it is an exponent.</summary>
    private static readonly Vector256<float>[] Signs = Enumerable.Range(0, 5).Select(p => Vector256.Create(
        Enumerable.Range(0, 8).Select(l => IsExponent(8 * p + l) ? 1f : -1f).ToArray())).ToArray();

    private static bool IsExponent(long i) => i % 5 is 2 or 3;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var xt = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "boxdecode");
        int n = xt.Shape[0], gh = xt.Shape[1], gw = xt.Shape[2], a = op.Anchors;
        float* x = xt.Data, y = output.Data;
        long count = xt.ElementCount, i = 0;
        if (Vector256.IsHardwareAccelerated && !ctx.Variants.Portable)
            for (int phase = 0; i + 8 <= count; i += 8, phase = phase == 4 ? 0 : phase + 1)
            {
                var sign = Signs[phase];
                var e = VectorExp.Exp(Vector256.Load(x + i) * sign);
                Vector256.ConditionalSelect(Vector256.GreaterThan(sign, Vector256<float>.Zero), e,
                    Vector256<float>.One / (Vector256<float>.One + e)).Store(y + i);
            }
        for (; i < count; i++) y[i] = IsExponent(i) ? MathF.Exp(x[i]) : 1f / (1f + MathF.Exp(-x[i]));

        Span<float> half = 2 * a <= 256 ? stackalloc float[2 * a] : new float[2 * a];
        for (int k = 0; k < a; k++)
        {
            half[2 * k] = op.AnchorWidths[k] / (2f * gw);
            half[2 * k + 1] = op.AnchorHeights[k] / (2f * gh);
        }
        float cellW = 1f / gw, cellH = 1f / gh;
        float* o = y;
        for (int b = 0; b < n; b++)
            for (int r = 0; r < gh; r++)
                for (int c = 0; c < gw; c++)
                    for (int k = 0; k < a; k++, o += 5)
                    {
                        float halfW = o[2] * half[2 * k], halfH = o[3] * half[2 * k + 1];
                        float x0 = (c + o[0]) * cellW - halfW, y0 = (r + o[1]) * cellH - halfH;
                        o[0] = x0; o[1] = y0; o[2] = x0 + (halfW + halfW); o[3] = y0 + (halfH + halfH);
                    }
    }
}

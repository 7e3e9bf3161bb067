using System.Runtime.CompilerServices;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.KeySample;

/// <summary>
/// The re-sampling on the CPU: a handful of values (RDFER: 16 per clip), one key at a time, its centre and stride
/// computed once. Each rounding is its own statement and the JIT does not contract a product and a sum into a fused
/// multiply-add, so the float32 order of docs/models/rdfer.md holds.
/// </summary>
public sealed unsafe class KeySampleCpu(KeySampleOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var mu = CpuChecks.Dense(inputs[0]);
        var delta = CpuChecks.Dense(inputs[1]);
        CpuChecks.ExpectDense(output, "keysample");
        for (long key = 0; key < mu.ElementCount; key++)
        {
            float centre = Centre(op, mu.Data[key]);
            float stride = Stride(op, delta.Data[key]);
            for (int g = 0; g < op.PerKey; g++)
                output.Data[key * op.PerKey + g] = Index(op, centre, op.Offset(g), stride);
        }
    }

    /// <summary>c = μ·(T−1)/2 + (T−1)/2, three float32 roundings.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Centre(KeySampleOp op, float mu)
    {
        float scaled = mu * op.Span;
        float half = scaled / 2f;
        return half + op.Middle;
    }

    /// <summary>s = (T/3)·exp(δ).</summary>
    private static float Stride(KeySampleOp op, float delta) => op.StrideScale * MathF.Exp(delta);

    /// <summary>⌈c + o·s⌉ when inside the clip, else −1.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Index(KeySampleOp op, float centre, float offset, float stride)
    {
        float step = offset * stride;
        float position = centre + step;
        float k = MathF.Ceiling(position);
        return k >= 0f && k <= op.Frames - 1 ? k + 0f : -1f;
    }
}

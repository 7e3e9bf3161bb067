using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// Frame sampling on the CPU (<see cref="FrameInterpolation"/>): dense frames [B, T, S, C] and indices [B, K] into
/// dense [B, K, S, C]; one work item per (b, k) output frame, a vectorised blend of two frame slabs.
/// A NaN index gives a NaN frame.
/// </summary>
public static unsafe class FrameBlend
{
    public static void Run(CpuContext ctx, FrameInterpolation sampling, Tensor x, Tensor index, Tensor y) =>
        ctx.Pool.Run(new Work(sampling, x, index, y), y.Shape[0] * y.Shape[1]);

    private sealed class Work(FrameInterpolation op, Tensor x, Tensor index, Tensor y) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            int t = x.Shape[1], k = y.Shape[1], slab = x.Shape[2] * x.Shape[3];
            int b = item / k;
            float idx = index.Data[item];
            if (float.IsNaN(idx))
            {
                new Span<float>(y.Data + (long)item * slab, slab).Fill(float.NaN);
                return;
            }
            // The position in double, as the Reference: float rounding could move ⌊p⌋ at an integer.
            double p = op.Position(idx, t);
            int i0 = (int)Math.Floor(p);
            float w = (float)(p - i0), w0 = 1f - w;
            float* a = x.Data + ((long)b * t + i0) * slab, dst = y.Data + (long)item * slab;
            float* c = i0 + 1 < t ? a + slab : a;
            float w1 = i0 + 1 < t ? w : 0f;
            int s = 0, vw = Vector<float>.Count;
            for (; s <= slab - vw; s += vw)
                Vector.Store(Vector.Load(a + s) * w0 + Vector.Load(c + s) * w1, dst + s);
            for (; s < slab; s++) dst[s] = a[s] * w0 + c[s] * w1;
        }
    }
}

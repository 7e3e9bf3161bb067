using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>
/// Frame sampling on ILGPU (<see cref="FrameInterpolation"/>), dense [B, T, S, C] frames and [B, K] indices into
/// [B, K, S, C]: one thread per output value; threads of a warp blend consecutive values of the same two frames.
/// </summary>
public static class IlgpuFrameBlend
{
    /// <summary>Samples <paramref name="frames"/> of shape <paramref name="x"/> at <paramref name="indices"/> ([B,
    /// <paramref name="k"/>]) into <paramref name="output"/>.</summary>
    public static void Run(IlgpuDevice device, FrameInterpolation sampling, ArrayView<float> frames, int[] x,
        ArrayView<float> indices, int k, ArrayView<float> output)
    {
        var kernel = device.Kernel(Sample, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, double>(Sample));
        kernel(IlgpuLaunch.Count(output.Length), frames, indices, output, x[1], k, x[2] * x[3], sampling.Divisor);
    }

    private static void Sample(Index1D index, ArrayView<float> x, ArrayView<float> indices, ArrayView<float> y,
        int frames, int k, int slab, double divisor)
    {
        int s = index % slab, item = index / slab, b = item / k;
        float idx = indices[item];
        // As FrameInterpolation.Position, in double so ⌊p⌋ matches the Reference at integers.
        double p = XMath.Min(XMath.Max(idx * (double)frames / divisor - 0.5, 0.0), frames - 1.0);
        if (float.IsNaN(idx))
        {
            y[index] = float.NaN;
            return;
        }
        int i0 = (int)XMath.Floor(p);
        float w = (float)(p - i0);
        long a = ((long)b * frames + i0) * slab + s;
        float v = (1f - w) * x[a];
        if (i0 + 1 < frames) v += w * x[a + slab];
        y[index] = v;
    }
}

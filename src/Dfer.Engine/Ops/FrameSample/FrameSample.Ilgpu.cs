using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.FrameSample;

/// <summary>Frame sampling on ILGPU: one thread per output value; threads of a warp blend consecutive values of the same two frames.</summary>
public sealed class FrameSampleIlgpu(FrameSampleOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var kernel = device.Kernel(Sample, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, double>(Sample));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], inputs[1], output, x[1], outputShape[1], x[2] * x[3], op.Divisor);
    }

    private static void Sample(Index1D index, ArrayView<float> x, ArrayView<float> indices, ArrayView<float> y, int frames, int k, int slab, double divisor)
    {
        int s = index % slab, item = index / slab, b = item / k;
        float idx = indices[item];
        // As FrameSampleOp.Position, in double so ⌊p⌋ matches the Reference at integers.
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

    public void Dispose() { }
}

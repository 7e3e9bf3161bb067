using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.AvgPool3d;

/// <summary>Global average pool on ILGPU: one thread per (n, c), channel fastest so a warp reads consecutive
/// channels.</summary>
public sealed class AvgPool3dIlgpu : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var kernel = device.Kernel(Pool, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            int, int>(Pool));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, x[1] * x[2] * x[3], x[4]);
    }

    private static void Pool(Index1D index, ArrayView<float> x, ArrayView<float> y, int positions, int channels)
    {
        int n = index / channels, c = index % channels;
        long b = (long)n * positions * channels + c;
        float sum = 0f;
        for (int i = 0; i < positions; i++) sum += x[b + (long)i * channels];
        y[index] = sum / positions;
    }

    public void Dispose() { }
}

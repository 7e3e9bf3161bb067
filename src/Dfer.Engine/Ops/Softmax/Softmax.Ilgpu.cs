using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Softmax;

/// <summary>Softmax over the last axis on ILGPU: one thread per row (rows are short: class scores).</summary>
public sealed class SoftmaxIlgpu : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int n = inputShapes[0][^1];
        var kernel = device.Kernel(Rows, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            int>(Rows));
        kernel(IlgpuLaunch.Count(output.Length / Math.Max(n, 1)), inputs[0], output, n);
    }

    private static void Rows(Index1D row, ArrayView<float> x, ArrayView<float> y, int n)
    {
        long b = (long)(int)row * n;
        float max = float.NegativeInfinity;
        for (int i = 0; i < n; i++) max = XMath.Max(max, x[b + i]);
        float sum = 0f;
        for (int i = 0; i < n; i++)
        {
            float e = XMath.Exp(x[b + i] - max);
            y[b + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) y[b + i] *= inv;
    }

    public void Dispose() { }
}

using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.LayerNorm;

/// <summary>LayerNorm over the last axis on ILGPU: one thread per row, two passes (mean, then squared deviations).</summary>
public sealed class LayerNormIlgpu : IIlgpuKernel
{
    private readonly LayerNormOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight, _bias;

    public LayerNormIlgpu(IlgpuDevice device, LayerNormOp op)
    {
        _op = op;
        _weight = device.Upload(op.Weight);
        _bias = device.Upload(op.Bias);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int c = _op.Channels;
        var kernel = device.Kernel(Rows, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(Rows));
        kernel(IlgpuLaunch.Count(output.Length / c), inputs[0], _weight.View, _bias.View, output, c, (float)_op.Eps);
    }

    private static void Rows(Index1D row, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, int c, float eps)
    {
        long b = (long)(int)row * c;
        float sum = 0f;
        for (int i = 0; i < c; i++) sum += x[b + i];
        float mean = sum / c, sq = 0f;
        for (int i = 0; i < c; i++)
        {
            float d = x[b + i] - mean;
            sq += d * d;
        }
        float inv = 1f / XMath.Sqrt(sq / c + eps);
        for (int i = 0; i < c; i++) y[b + i] = (x[b + i] - mean) * inv * weight[i] + bias[i];
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
    }
}

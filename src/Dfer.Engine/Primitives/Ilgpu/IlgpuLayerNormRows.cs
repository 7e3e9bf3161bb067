using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>
/// LayerNorm over the last axis of dense rows on ILGPU: one thread per row, two passes (mean, then squared
/// deviations). In place is allowed: each thread reads its whole row before writing it.
/// </summary>
public sealed class IlgpuLayerNormRows : IDisposable
{
    private readonly LayerNormWeights _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight, _bias;

    public IlgpuLayerNormRows(IlgpuDevice device, LayerNormWeights op)
    {
        _op = op;
        _weight = device.Upload(op.Weight);
        _bias = device.Upload(op.Bias);
    }

    /// <summary>Normalises every C-row of <paramref name="input"/> into <paramref name="output"/>.</summary>
    public void Run(IlgpuDevice device, ArrayView<float> input, ArrayView<float> output)
    {
        int c = _op.Channels;
        var kernel = device.Kernel(Rows, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, float>(Rows));
        kernel(IlgpuLaunch.Count(output.Length / c), input, _weight.View, _bias.View, output, c, (float)_op.Eps);
    }

    private static void Rows(Index1D row, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> y, int c, float eps)
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

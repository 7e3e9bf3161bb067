using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Dmin;

/// <summary>Shapes and the softmaxed mixing weights of one DMIN launch.</summary>
internal struct DminIlgpuParams
{
    public int Batch, Instances, Channels;
    public float Wm0, Wm1, Wv0, Wv1, Eps;
}

/// <summary>
/// DMIN on ILGPU in three launches: per (b, c) instance statistics (mean, unbiased variance) with
/// one thread each; per b the layer statistics over channels (one thread per sample, a serial sum
/// over C); then one thread per element normalises. The two mixing softmaxes are folded on the host.
/// </summary>
public sealed class DminIlgpu : IIlgpuKernel
{
    private readonly DminOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight, _bias;
    private MemoryBuffer1D<float, Stride1D.Dense>? _stats;

    public DminIlgpu(IlgpuDevice device, DminOp op)
    {
        _op = op;
        _weight = device.Upload(op.Weight);
        _bias = device.Upload(op.Bias);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var (wm0, wm1) = DminReference.Softmax2(_op.MeanWeight);
        var (wv0, wv1) = DminReference.Softmax2(_op.VarWeight);
        var p = new DminIlgpuParams
        {
            Batch = x[0], Instances = x[1], Channels = x[2],
            Wm0 = (float)wm0, Wm1 = (float)wm1, Wv0 = (float)wv0, Wv1 = (float)wv1, Eps = (float)_op.Eps,
        };
        // [B, C, 2] instance statistics, then [B, 2] layer statistics after them.
        long need = (long)p.Batch * p.Channels * 2 + 2L * p.Batch;
        if (_stats is null || _stats.Length < need)
        {
            _stats?.Dispose();
            _stats = device.Allocate(need);
        }
        var instance = device.Kernel(InstanceStats, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, DminIlgpuParams>(InstanceStats));
        var layer = device.Kernel(LayerStats, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, DminIlgpuParams>(LayerStats));
        var normalise = device.Kernel(Normalise, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DminIlgpuParams>(Normalise));
        instance(IlgpuLaunch.Count((long)p.Batch * p.Channels), inputs[0], _stats.View, p);
        layer(p.Batch, _stats.View, p);
        normalise(IlgpuLaunch.Count(output.Length), inputs[0], _stats.View, _weight.View, _bias.View, output, p);
    }

    private static void InstanceStats(Index1D index, ArrayView<float> x, ArrayView<float> stats, DminIlgpuParams p)
    {
        int c = index % p.Channels, b = index / p.Channels;
        float sum = 0f;
        for (int i = 0; i < p.Instances; i++) sum += x[((long)b * p.Instances + i) * p.Channels + c];
        float mean = sum / p.Instances, sq = 0f;
        for (int i = 0; i < p.Instances; i++)
        {
            float d = x[((long)b * p.Instances + i) * p.Channels + c] - mean;
            sq += d * d;
        }
        stats[(long)(int)index * 2] = mean;
        stats[(long)(int)index * 2 + 1] = sq / (p.Instances - 1);
    }

    private static void LayerStats(Index1D b, ArrayView<float> stats, DminIlgpuParams p)
    {
        float mean = 0f, sq = 0f;
        for (int c = 0; c < p.Channels; c++)
        {
            long k = ((long)(int)b * p.Channels + c) * 2;
            float m = stats[k];
            mean += m;
            sq += stats[k + 1] + m * m;
        }
        mean /= p.Channels;
        long at = (long)p.Batch * p.Channels * 2 + 2L * (int)b;
        stats[at] = mean;
        stats[at + 1] = sq / p.Channels - mean * mean;
    }

    private static void Normalise(Index1D index, ArrayView<float> x, ArrayView<float> stats, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, DminIlgpuParams p)
    {
        int c = index % p.Channels, b = index / (p.Channels * p.Instances);
        long k = ((long)b * p.Channels + c) * 2;
        long at = (long)p.Batch * p.Channels * 2 + 2L * (int)b;
        float mean = p.Wm0 * stats[k] + p.Wm1 * stats[at];
        float var = p.Wv0 * stats[k + 1] + p.Wv1 * stats[at + 1];
        y[index] = (x[index] - mean) * (1f / XMath.Sqrt(var + p.Eps)) * weight[c] + bias[c];
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
        _stats?.Dispose();
    }
}

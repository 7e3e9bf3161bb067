using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>Shapes of one attention launch.</summary>
public struct IlgpuSelfAttentionParams
{
    public int Batch, Len, Heads, HeadDim;
    public float Scale;
}

/// <summary>
/// Multi-head self-attention over a packed [B, L, 3·D] q|k|v input on ILGPU, in two launches:
/// one thread per (b, head, query) computes its row of scores and softmax into a small
/// [B, heads, L, L] buffer; then one thread per output element (b, l, head·d + j) mixes the values.
/// </summary>
public sealed class IlgpuSelfAttention(int heads, int headDim, float scale) : IDisposable
{
    private MemoryBuffer1D<float, Stride1D.Dense>? _probabilities;

    /// <summary>Dense [batch, len, 3·heads·headDim] q|k|v to dense [batch, len, heads·headDim].</summary>
    public void Run(IlgpuDevice device, ArrayView<float> qkv, ArrayView<float> output, int batch, int len)
    {
        var p = new IlgpuSelfAttentionParams
        {
            Batch = batch,
            Len = len,
            Heads = heads,
            HeadDim = headDim,
            Scale = scale
        };
        long rows = (long)p.Batch * p.Heads * p.Len;
        if (_probabilities is null || _probabilities.Length < rows * p.Len)
        {
            _probabilities?.Dispose();
            _probabilities = device.Allocate(rows * p.Len);
        }
        var scores = device.Kernel(Scores,
            a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, IlgpuSelfAttentionParams>(
            Scores));
        var mix = device.Kernel(Mix, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, IlgpuSelfAttentionParams>(Mix));
        scores(IlgpuLaunch.Count(rows), qkv, _probabilities.View, p);
        mix(IlgpuLaunch.Count(output.Length), qkv, _probabilities.View, output, p);
    }

    private static void Scores(Index1D index, ArrayView<float> qkv, ArrayView<float> prob, IlgpuSelfAttentionParams p)
    {
        int l = index % p.Len, r = index / p.Len;
        int head = r % p.Heads, b = r / p.Heads;
        int dim = p.Heads * p.HeadDim;
        long q = ((long)b * p.Len + l) * 3 * dim + (long)head * p.HeadDim;
        long row = (long)(int)index * p.Len;
        float max = float.NegativeInfinity;
        for (int m = 0; m < p.Len; m++)
        {
            long k = ((long)b * p.Len + m) * 3 * dim + dim + (long)head * p.HeadDim;
            float s = 0f;
            for (int j = 0; j < p.HeadDim; j++) s += qkv[q + j] * qkv[k + j];
            s *= p.Scale;
            prob[row + m] = s;
            max = XMath.Max(max, s);
        }
        float sum = 0f;
        for (int m = 0; m < p.Len; m++)
        {
            float e = XMath.Exp(prob[row + m] - max);
            prob[row + m] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int m = 0; m < p.Len; m++) prob[row + m] *= inv;
    }

    private static void Mix(Index1D index, ArrayView<float> qkv, ArrayView<float> prob, ArrayView<float> y,
        IlgpuSelfAttentionParams p)
    {
        int dim = p.Heads * p.HeadDim;
        int e = index % dim, r = index / dim;
        int l = r % p.Len, b = r / p.Len;
        int head = e / p.HeadDim;
        long row = (((long)b * p.Heads + head) * p.Len + l) * p.Len;
        float acc = 0f;
        for (int m = 0; m < p.Len; m++)
            acc += prob[row + m] * qkv[((long)b * p.Len + m) * 3 * dim + 2 * dim + e];
        y[index] = acc;
    }

    public void Dispose() => _probabilities?.Dispose();
}

using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.AdaptiveSplit;

/// <summary>Sizes and scalars of one issm launch.</summary>
internal struct AdaptiveSplitIlgpuParams
{
    public int Frames, Features, Count, Negate;
    public float Scale, OffsetScale;
}

/// <summary>
/// The adaptive index split on ILGPU in float32, two launches: one thread per (b, i) computes row i
/// of S and its max-subtracted softmax into a [B, T, T] scratch buffer; then one thread per (b, k)
/// does the offset dot product, tanh and base. The weights and base indices go to the device once.
/// </summary>
public sealed class AdaptiveSplitIlgpu : IIlgpuKernel
{
    private readonly AdaptiveSplitOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight, _base;
    private MemoryBuffer1D<float, Stride1D.Dense>? _p;

    public AdaptiveSplitIlgpu(IlgpuDevice device, AdaptiveSplitOp op)
    {
        _op = op;
        _weight = device.Upload(op.OffsetWeight);
        _base = device.Upload(op.BaseIndex);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var p = new AdaptiveSplitIlgpuParams
        {
            Frames = _op.Frames,
            Features = x[2],
            Count = _op.Count,
            Negate = _op.Negate ? 1 : 0,
            Scale = (float)_op.SimilarityScale,
            OffsetScale = (float)_op.OffsetScale,
        };
        long need = (long)x[0] * p.Frames * p.Frames;
        if (_p is null || _p.Length < need)
        {
            _p?.Dispose();
            _p = device.Allocate(need);
        }
        var rows = device.Kernel(SoftmaxRows, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, AdaptiveSplitIlgpuParams>(SoftmaxRows));
        var offsets = device.Kernel(Offsets, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, AdaptiveSplitIlgpuParams>(Offsets));
        rows(IlgpuLaunch.Count((long)x[0] * p.Frames), inputs[0], _p.View, p);
        offsets(IlgpuLaunch.Count(output.Length), _p.View, _weight.View, _base.View, output, p);
    }

    /// <summary>Thread (b, i): P[b, i, :] = softmax(±scale · F[b, i] · F[b, j]), max-subtracted.</summary>
    private static void SoftmaxRows(Index1D index, ArrayView<float> x, ArrayView<float> prob,
        AdaptiveSplitIlgpuParams p)
    {
        int t = p.Frames, m = p.Features;
        int b = index / t;
        long fi = (long)(int)index * m, f0 = (long)b * t * m, row = (long)(int)index * t;
        float max = float.NegativeInfinity;
        for (int j = 0; j < t; j++)
        {
            long fj = f0 + (long)j * m;
            float dot = 0f;
            for (int c = 0; c < m; c++) dot += x[fi + c] * x[fj + c];
            float s = p.Scale * dot;
            if (p.Negate != 0) s = -s;
            prob[row + j] = s;
            max = XMath.Max(max, s);
        }
        // A GPU max may drop a NaN operand, but that NaN's exp still makes the sum, and so the whole row, NaN.
        float sum = 0f;
        for (int j = 0; j < t; j++)
        {
            float e = XMath.Exp(prob[row + j] - max);
            prob[row + j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int j = 0; j < t; j++) prob[row + j] *= inv;
    }

    /// <summary>Thread (b, k): idx = base[k] + offsetScale · tanh(W[k] · vec(P[b])).</summary>
    private static void Offsets(Index1D index, ArrayView<float> prob, ArrayView<float> weight,
        ArrayView<float> baseIndex, ArrayView<float> y, AdaptiveSplitIlgpuParams p)
    {
        int tt = p.Frames * p.Frames;
        int b = index / p.Count, k = index % p.Count;
        long pr = (long)b * tt, wr = (long)k * tt;
        float acc = 0f;
        for (int e = 0; e < tt; e++) acc += weight[wr + e] * prob[pr + e];
        y[index] = baseIndex[k] + p.OffsetScale * XMath.Tanh(acc);
    }

    public void Dispose()
    {
        _weight.Dispose();
        _base.Dispose();
        _p?.Dispose();
    }
}

using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.AttentionPool;

/// <summary>Shapes and the softmaxed DMIN mixing weights of one head launch.</summary>
internal struct AttentionPoolIlgpuParams
{
    public int Batch, Instances, Dim, ConvKernel, ConvPad, PooledLength;
    public float Wm0, Wm1, Wv0, Wv1, Eps, ConvBias;
}

/// <summary>
/// The fused head on ILGPU over one device scratch buffer: <see cref="IlgpuDenseRows"/> for the
/// qkv projection and fc, <see cref="IlgpuSelfAttention"/> over the instances, then four small
/// launches of the head's own: per (b, c) DMIN's instance statistics (two-pass), per b its layer
/// statistics, per element the normalisation and gate, per (b, t) pwconv. The native CUDA backend
/// runs attention_pool.cu instead.
/// </summary>
public sealed class AttentionPoolIlgpu : IIlgpuKernel
{
    private readonly AttentionPoolOp _op;
    private readonly IlgpuDenseRows _qkv, _fc;
    private readonly IlgpuSelfAttention _attention;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _normWeight, _normBias, _convWeight;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scratch;

    public AttentionPoolIlgpu(IlgpuDevice device, AttentionPoolOp op)
    {
        _op = op;
        _qkv = new IlgpuDenseRows(device, op.Dim, 3 * op.Dim, op.QkvWeight, null);
        _attention = new IlgpuSelfAttention(op.Heads, op.HeadDim, (float)op.Scale);
        _fc = new IlgpuDenseRows(device, op.PooledLength, op.Classes, op.FcWeight, op.FcBias);
        _normWeight = device.Upload(op.NormWeight);
        _normBias = device.Upload(op.NormBias);
        _convWeight = device.Upload(op.ConvWeight);
    }

    private static (float, float) Softmax2(float[] w)
    {
        float m = MathF.Max(w[0], w[1]);
        float a = MathF.Exp(w[0] - m), b = MathF.Exp(w[1] - m);
        return (a / (a + b), b / (a + b));
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int b = inputShapes[0][0], n = _op.Instances, d = _op.Dim, lout = _op.PooledLength;
        var (wm0, wm1) = Softmax2(_op.MeanWeight);
        var (wv0, wv1) = Softmax2(_op.VarWeight);
        var p = new AttentionPoolIlgpuParams
        {
            Batch = b,
            Instances = n,
            Dim = d,
            ConvKernel = _op.ConvKernel,
            ConvPad = _op.ConvPad,
            PooledLength = lout,
            Wm0 = wm0,
            Wm1 = wm1,
            Wv0 = wv0,
            Wv1 = wv1,
            Eps = (float)_op.Eps,
            ConvBias = _op.ConvBias,
        };
        long rowsElems = (long)b * n * d;
        // qkv [B,N,3D] | y [B,N,D] | g [B,N,D] | pooled [B,Lout] | stats [B,D,2] then [B,2]
        long need = 5 * rowsElems + (long)b * lout + 2L * b * d + 2L * b;
        if (_scratch is null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = device.Allocate(need);
        }
        long at = 0;
        ArrayView<float> View(long length)
        {
            ArrayView<float> v = (ArrayView<float>)_scratch!.View.SubView(at, length);
            at += length;
            return v;
        }
        var qkv = View(3 * rowsElems);
        var y = View(rowsElems);
        var g = View(rowsElems);
        var pooled = View((long)b * lout);
        var stats = View(2L * b * d + 2L * b);
        var x = inputs[0];
        _qkv.Run(device, x, qkv);
        _attention.Run(device, qkv, y, b, n);
        var instance = device.Kernel(InstanceStats, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, AttentionPoolIlgpuParams>(InstanceStats));
        var layer = device.Kernel(LayerStats, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            AttentionPoolIlgpuParams>(LayerStats));
        var gate = device.Kernel(NormaliseAndGate, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AttentionPoolIlgpuParams>(NormaliseAndGate));
        var conv = device.Kernel(Pwconv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, AttentionPoolIlgpuParams>(Pwconv));
        instance(IlgpuLaunch.Count((long)b * d), y, stats, p);
        layer(b, stats, p);
        gate(IlgpuLaunch.Count(rowsElems), x, y, stats, _normWeight.View, _normBias.View, g, p);
        conv(IlgpuLaunch.Count((long)b * lout), g, _convWeight.View, pooled, p);
        _fc.Run(device, pooled, output);
    }

    /// <summary>Per (b, c): mean and unbiased variance over the instances, two passes.</summary>
    private static void InstanceStats(Index1D index, ArrayView<float> y, ArrayView<float> stats,
        AttentionPoolIlgpuParams p)
    {
        int c = index % p.Dim, b = index / p.Dim;
        long first = (long)b * p.Instances * p.Dim + c;
        float sum = 0f;
        for (int i = 0; i < p.Instances; i++) sum += y[first + (long)i * p.Dim];
        float mean = sum / p.Instances, sq = 0f;
        for (int i = 0; i < p.Instances; i++)
        {
            float dl = y[first + (long)i * p.Dim] - mean;
            sq += dl * dl;
        }
        stats[(long)(int)index * 2] = mean;
        stats[(long)(int)index * 2 + 1] = sq / (p.Instances - 1);
    }

    /// <summary>Per b: the layer mean and variance over channels, within- plus between-channel terms.</summary>
    private static void LayerStats(Index1D b, ArrayView<float> stats, AttentionPoolIlgpuParams p)
    {
        long first = (long)(int)b * p.Dim * 2;
        float mean = 0f, within = 0f;
        for (int c = 0; c < p.Dim; c++)
        {
            mean += stats[first + 2L * c];
            within += stats[first + 2L * c + 1];
        }
        mean /= p.Dim;
        float between = 0f;
        for (int c = 0; c < p.Dim; c++)
        {
            float dl = stats[first + 2L * c] - mean;
            between += dl * dl;
        }
        long at = 2L * p.Batch * p.Dim + 2L * (int)b;
        stats[at] = mean;
        stats[at + 1] = (within + between) / p.Dim;
    }

    /// <summary>Per element: z = DMIN(y), g = x·σ(z).</summary>
    private static void NormaliseAndGate(Index1D index, ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> g, AttentionPoolIlgpuParams p)
    {
        int c = index % p.Dim, b = index / (p.Dim * p.Instances);
        long k = ((long)b * p.Dim + c) * 2;
        long at = 2L * p.Batch * p.Dim + 2L * b;
        float mean = p.Wm0 * stats[k] + p.Wm1 * stats[at];
        float var = p.Wv0 * stats[k + 1] + p.Wv1 * stats[at + 1];
        float z = (y[index] - mean) / XMath.Sqrt(var + p.Eps) * weight[c] + bias[c];
        g[index] = x[index] / (1f + XMath.Exp(-z));
    }

    /// <summary>Per (b, t): pwconv, the instances as input channels and the features as the length.</summary>
    private static void Pwconv(Index1D index, ArrayView<float> g, ArrayView<float> w, ArrayView<float> pooled,
        AttentionPoolIlgpuParams p)
    {
        int t = index % p.PooledLength, b = index / p.PooledLength;
        float acc = p.ConvBias;
        for (int i = 0; i < p.Instances; i++)
        {
            long row = ((long)b * p.Instances + i) * p.Dim;
            for (int kk = 0; kk < p.ConvKernel; kk++)
            {
                int q = t - p.ConvPad + kk;
                if (q >= 0 && q < p.Dim) acc += w[i * p.ConvKernel + kk] * g[row + q];
            }
        }
        pooled[index] = acc;
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _fc.Dispose();
        _attention.Dispose();
        _normWeight.Dispose();
        _normBias.Dispose();
        _convWeight.Dispose();
        _scratch?.Dispose();
    }
}

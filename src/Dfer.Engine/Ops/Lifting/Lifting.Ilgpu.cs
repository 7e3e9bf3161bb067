using Dfer.Devices.Ilgpu;
using Dfer.Primitives;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Lifting;

/// <summary>
/// The lifting step on ILGPU, composed of primitives (<see cref="IlgpuFrameBlend"/>,
/// <see cref="IlgpuLayerNormRows"/>, <see cref="IlgpuDenseRows"/>) plus a cross-attention kernel with one
/// thread per (b, head, query) row streaming over the keys with an online softmax (its head-dim
/// accumulator in local memory) and a residual-add kernel. Scratch device buffers are owned by the kernel.
/// </summary>
public sealed class LiftingIlgpu : IIlgpuKernel
{
    /// <summary>Largest head dim the per-thread accumulator holds (IFDD: 96).</summary>
    public const int MaxHeadDim = 128;

    private readonly LiftingOp _op;
    private readonly IlgpuLayerNormRows _xaNorm, _xdNorm;
    private readonly IlgpuDenseRows _qA, _kvD, _projA, _qD, _kvA, _projD;
    private MemoryBuffer1D<float, Stride1D.Dense>? _raw, _xa, _xd, _q, _kv, _o, _p;

    public LiftingIlgpu(IlgpuDevice device, LiftingOp op)
    {
        if (op.HeadDim > MaxHeadDim)
            throw new NotSupportedException(
                $"lifting on ILGPU holds at most {MaxHeadDim} head dims per thread, got {op.HeadDim}");
        _op = op;
        _xaNorm = new IlgpuLayerNormRows(device, op.XaNorm);
        _xdNorm = new IlgpuLayerNormRows(device, op.XdNorm);
        _qA = Dense(device, op.QA); _kvD = Dense(device, op.KvD); _projA = Dense(device, op.ProjectA);
        _qD = Dense(device, op.QD); _kvA = Dense(device, op.KvA); _projD = Dense(device, op.ProjectD);
    }

    private static IlgpuDenseRows Dense(IlgpuDevice device, LinearWeights l)
        => new(device, l.In, l.Out, l.Weight, l.Bias);

    private static ArrayView<float> Ensure(IlgpuDevice device, ref MemoryBuffer1D<float, Stride1D.Dense>? buf,
        long length)
    {
        if (buf is null || buf.Length < length)
        {
            buf?.Dispose();
            buf = device.Allocate(length);
        }
        return buf.View.SubView(0, length);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] ys = inputShapes[0], idxShape = inputShapes[1];
        int b = ys[0], k = idxShape[1], s = ys[2], c = _op.Channels, n = k * s, rows = b * n;
        long tokens = (long)rows * c;
        var raw = Ensure(device, ref _raw, tokens);
        var xa = Ensure(device, ref _xa, tokens);
        var xd = Ensure(device, ref _xd, tokens);
        var q = Ensure(device, ref _q, tokens);
        var kv = Ensure(device, ref _kv, 2 * tokens);
        var o = Ensure(device, ref _o, tokens);
        var p = Ensure(device, ref _p, tokens);
        var y = inputs[0];

        IlgpuFrameBlend.Run(device, _op.Sample, y, ys, inputs[1], k, raw);
        _xaNorm.Run(device, raw, xa);
        IlgpuFrameBlend.Run(device, _op.Sample, y, ys, inputs[2], k, raw);
        _xdNorm.Run(device, raw, xd);

        var attend = device.Kernel(Attend, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, float>(Attend));
        var add = device.Kernel(AddScaled, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, float>(AddScaled));
        float scale = (float)_op.Scale;

        // Updater: Xa' = Xa + proj_a(CA(Xa, Xd)), in place.
        _qA.Run(device, xa, q);
        _kvD.Run(device, xd, kv);
        attend(IlgpuLaunch.Count((long)b * _op.Heads * n), q, kv, o, n, _op.Heads, _op.HeadDim, scale);
        _projA.Run(device, o, p);
        add(IlgpuLaunch.Count(tokens), xa, p, xa, 1f);

        // Predictor: Xd' = Xd − proj_d(CA(Xd, Xa')), into the output.
        _qD.Run(device, xd, q);
        _kvA.Run(device, xa, kv);
        attend(IlgpuLaunch.Count((long)b * _op.Heads * n), q, kv, o, n, _op.Heads, _op.HeadDim, scale);
        _projD.Run(device, o, p);
        add(IlgpuLaunch.Count(tokens), xd, p, output, -1f);
    }

    /// <summary>y = x + sign·p, elementwise.</summary>
    private static void AddScaled(Index1D index, ArrayView<float> x, ArrayView<float> p, ArrayView<float> y,
        float sign) =>
        y[index] = x[index] + sign * p[index];

    // Thread = row r = (b·H + head)·N + i; q [B·N, C], kv [B·N, 2C] (K then V), o [B·N, C].
    private static void Attend(Index1D index, ArrayView<float> q, ArrayView<float> kv, ArrayView<float> o, int n,
        int heads, int hd, float scale)
    {
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int i = index % n, h = index / n % heads, bi = index / (n * heads);
        int c = heads * hd;
        long q0 = ((long)bi * n + i) * c + h * hd, kv0 = (long)bi * n * 2 * c + h * hd;
        float max = float.NegativeInfinity, sum = 0f;
        for (int d = 0; d < hd; d++) acc[d] = 0f;
        for (int j = 0; j < n; j++)
        {
            long kj = kv0 + (long)j * 2 * c;
            float sc = 0f;
            for (int d = 0; d < hd; d++) sc += q[q0 + d] * kv[kj + d];
            sc *= scale;
            if (sc > max)
            {
                float corr = XMath.Exp(max - sc);
                sum *= corr;
                for (int d = 0; d < hd; d++) acc[d] *= corr;
                max = sc;
            }
            float e = XMath.Exp(sc - max);
            sum += e;
            for (int d = 0; d < hd; d++) acc[d] += e * kv[kj + c + d];
        }
        float inv = 1f / sum;
        long vi = kv0 + (long)i * 2 * c + c;
        for (int d = 0; d < hd; d++) o[q0 + d] = acc[d] * inv + kv[vi + d];
    }

    public void Dispose()
    {
        _xaNorm.Dispose(); _xdNorm.Dispose();
        _qA.Dispose(); _kvD.Dispose(); _projA.Dispose(); _qD.Dispose(); _kvA.Dispose(); _projD.Dispose();
        _raw?.Dispose(); _xa?.Dispose(); _xd?.Dispose(); _q?.Dispose(); _kv?.Dispose(); _o?.Dispose(); _p?.Dispose();
    }
}

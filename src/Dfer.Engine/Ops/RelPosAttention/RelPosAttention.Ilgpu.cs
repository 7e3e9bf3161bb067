using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.RelPosAttention;

/// <summary>Shapes of one relposattn launch (kernel arguments must be unmanaged values).</summary>
internal struct RelPosAttentionIlgpuParams
{
    public int Rows, Nq, Nk, D, Qt, Qh, Qw, Kt, Kh, Kw, Residual;
    public float Scale;
}

/// <summary>
/// relposattn on ILGPU in two launches: one thread per (b, head, query, reachable table row) projects
/// the unscaled query onto that row into a small [B·H·Nq, kt + kh + kw] buffer; then one thread per
/// (b, head, query) streams over the keys with an online softmax, its d-float accumulator in local
/// memory. Correct first, not fast.
/// </summary>
public sealed class RelPosAttentionIlgpu : IIlgpuKernel
{
    /// <summary>Largest head dim the per-thread accumulator holds (IFDD: 96).</summary>
    public const int MaxHeadDim = 128;

    private readonly RelPosAttentionOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _relT, _relH, _relW;
    private MemoryBuffer1D<float, Stride1D.Dense>? _proj;

    public RelPosAttentionIlgpu(IlgpuDevice device, RelPosAttentionOp op)
    {
        if (op.HeadDim > MaxHeadDim)
            throw new NotSupportedException(
                $"relposattn on ILGPU holds at most {MaxHeadDim} head dims per thread, got {op.HeadDim}");
        _op = op;
        _relT = device.Upload(op.RelT); _relH = device.Upload(op.RelH); _relW = device.Upload(op.RelW);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var p = new RelPosAttentionIlgpuParams
        {
            Rows = outputShape[0] * _op.Heads * _op.Nq,
            Nq = _op.Nq,
            Nk = _op.Nk,
            D = _op.HeadDim,
            Qt = _op.QGrid.T,
            Qh = _op.QGrid.H,
            Qw = _op.QGrid.W,
            Kt = _op.KGrid.T,
            Kh = _op.KGrid.H,
            Kw = _op.KGrid.W,
            Residual = _op.ResidualPooling ? 1 : 0,
            Scale = (float)_op.Scale,
        };
        long projLen = (long)p.Rows * (p.Kt + p.Kh + p.Kw);
        if (_proj is null || _proj.Length < projLen)
        {
            _proj?.Dispose();
            _proj = device.Allocate(projLen);
        }
        var project = device.Kernel(Project, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            RelPosAttentionIlgpuParams>(Project));
        var attend = device.Kernel(Attend, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            RelPosAttentionIlgpuParams>(Attend));
        project(IlgpuLaunch.Count(projLen), inputs[0], _relT.View, _relH.View, _relW.View, _proj.View, p);
        attend(IlgpuLaunch.Count(p.Rows), inputs[0], inputs[1], inputs[2], _proj.View, output, p);
    }

    private static int RelIndex(int i, int j, int a, int c)
        => c >= a ? i * c / a + (c - 1 - j) : i + (c - 1 - j) * a / c;

    // Thread = (query row r, table entry e): e < kt is a t row, then kh h rows, then kw w rows.
    private static void Project(Index1D index, ArrayView<float> q, ArrayView<float> relT, ArrayView<float> relH,
        ArrayView<float> relW, ArrayView<float> proj, RelPosAttentionIlgpuParams p)
    {
        int per = p.Kt + p.Kh + p.Kw;
        int e = index % per, r = index / per;
        int n = r % p.Nq;
        if (n == 0) { proj[index] = 0f; return; }
        int i = n - 1, x = i % p.Qw, y = i / p.Qw % p.Qh, t = i / (p.Qw * p.Qh);
        long q0 = (long)r * p.D;
        float s = 0f;
        if (e < p.Kt)
        {
            long t0 = (long)RelIndex(t, e, p.Qt, p.Kt) * p.D;
            for (int j = 0; j < p.D; j++) s += q[q0 + j] * relT[t0 + j];
        }
        else if (e < p.Kt + p.Kh)
        {
            long h0 = (long)RelIndex(y, e - p.Kt, p.Qh, p.Kh) * p.D;
            for (int j = 0; j < p.D; j++) s += q[q0 + j] * relH[h0 + j];
        }
        else
        {
            long w0 = (long)RelIndex(x, e - p.Kt - p.Kh, p.Qw, p.Kw) * p.D;
            for (int j = 0; j < p.D; j++) s += q[q0 + j] * relW[w0 + j];
        }
        proj[index] = s;
    }

    // Thread = one (b, head, query) row r = (b·H + head)·Nq + n; keys of its (b, head) start at (r / Nq)·Nk.
    private static void Attend(Index1D index, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> proj, ArrayView<float> y, RelPosAttentionIlgpuParams p)
    {
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int r = index, n = r % p.Nq, bh = r / p.Nq;
        long q0 = (long)r * p.D, kv0 = (long)bh * p.Nk * p.D;
        int per = p.Kt + p.Kh + p.Kw;
        long pr = (long)r * per;

        // Class key first: running max = its logit, sum = 1, acc = v0.
        float max = 0f;
        for (int j = 0; j < p.D; j++) max += q[q0 + j] * k[kv0 + j];
        max *= p.Scale;
        float sum = 1f;
        for (int j = 0; j < p.D; j++) acc[j] = v[kv0 + j];
        for (int m = 1; m < p.Nk; m++)
        {
            long km = kv0 + (long)m * p.D;
            float s = 0f;
            for (int j = 0; j < p.D; j++) s += q[q0 + j] * k[km + j];
            s *= p.Scale;
            if (n > 0)
            {
                int i = m - 1, x2 = i % p.Kw, y2 = i / p.Kw % p.Kh, t2 = i / (p.Kw * p.Kh);
                s += proj[pr + t2] + proj[pr + p.Kt + y2] + proj[pr + p.Kt + p.Kh + x2];
            }
            if (s > max)
            {
                float c = XMath.Exp(max - s);
                sum *= c;
                for (int j = 0; j < p.D; j++) acc[j] *= c;
                max = s;
            }
            float e = XMath.Exp(s - max);
            sum += e;
            for (int j = 0; j < p.D; j++) acc[j] += e * v[km + j];
        }
        float inv = 1f / sum;
        bool residual = p.Residual != 0 && n > 0;
        for (int j = 0; j < p.D; j++) y[q0 + j] = acc[j] * inv + (residual ? q[q0 + j] : 0f);
    }

    public void Dispose()
    {
        _relT.Dispose(); _relH.Dispose(); _relW.Dispose();
        _proj?.Dispose();
    }
}

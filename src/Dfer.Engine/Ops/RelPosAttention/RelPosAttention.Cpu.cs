using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.RelPosAttention;

/// <summary>
/// relposattn on the CPU. With AVX2+FMA it runs <see cref="RelPosAttentionTiled"/>'s blocked
/// kernel; otherwise (and as the simple form of the same algorithm) flash style: one work item per (b, head, query
/// row). The row first projects its unscaled query onto the table rows it can reach (kt + kh + kw dot products), so a
/// key's bias is three lookups; then one pass over the keys in chunks of <see cref="Chunk"/> logits with an online
/// softmax (running max, rescaled sum and rescaled d-float accumulator). No Nq×Nk matrix and no
/// Nk-long row ever exists: IFDD block 0 has 25089 × 393 logits per head.
/// </summary>
public sealed unsafe class RelPosAttentionCpu : ICpuKernel, IDisposable
{
    private const int Chunk = 64;
    private readonly RelPosAttentionOp _op;
    private readonly NativeBuffer _relT, _relH, _relW;
    private readonly Work _work;
    private readonly RelPosAttentionTiled _tiled;

    public RelPosAttentionCpu(RelPosAttentionOp op)
    {
        _op = op;
        _relT = Copy(op.RelT); _relH = Copy(op.RelH); _relW = Copy(op.RelW);
        _work = new Work(this);
        _tiled = new RelPosAttentionTiled(op, (float*)_relT.Pointer, (float*)_relH.Pointer, (float*)_relW.Pointer);
    }

    private static NativeBuffer Copy(float[] a)
    {
        var buf = new NativeBuffer(Math.Max(1, a.LongLength) * sizeof(float));
        a.CopyTo(new Span<float>(buf.Pointer, a.Length));
        return buf;
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        CpuChecks.ExpectDense(output, "relposattn");
        if (ctx.UseSimd)
        {
            _tiled.Run(ctx, CpuChecks.Dense(inputs[0]), CpuChecks.Dense(inputs[1]), CpuChecks.Dense(inputs[2]), output);
            return;
        }
        _work.Q = CpuChecks.Dense(inputs[0]); _work.K = CpuChecks.Dense(inputs[1]); _work.V =
            CpuChecks.Dense(inputs[2]);
        _work.Y = output;
        ctx.Pool.Run(_work, output.Shape[0] * _op.Heads * _op.Nq);
        _work.Q = _work.K = _work.V = _work.Y = null;
    }

    private sealed class Work(RelPosAttentionCpu kernel) : IParallelWork
    {
        public Tensor? Q, K, V, Y;

        public void Execute(int index, int thread)
        {
            var op = kernel._op;
            int d = op.HeadDim, nq = op.Nq, nk = op.Nk;
            var (qt, qh, qw) = op.QGrid;
            var (kt, kh, kw) = op.KGrid;
            int n = index % nq, bh = index / nq;
            float* q = Q!.Data + (long)index * d;
            float* kb = K!.Data + (long)bh * nk * d, vb = V!.Data + (long)bh * nk * d;
            float* y = Y!.Data + (long)index * d;
            float scale = (float)op.Scale;

            bool big = d > 512 || kt + kh + kw > 512;
            Span<float> qsS = big ? new float[d] : stackalloc float[d];
            Span<float> accS = big ? new float[d] : stackalloc float[d];
            Span<float> projS = big ? new float[kt + kh + kw] : stackalloc float[kt + kh + kw];
            Span<float> s = stackalloc float[Chunk];
            fixed (float* qs = qsS, acc = accS, proj = projS)
            {
                for (int j = 0; j < d; j++) qs[j] = q[j] * scale;
                float* pt = proj, ph = proj + kt, pw = proj + kt + kh;
                if (n > 0)
                {
                    int i = n - 1, x = i % qw, yy = i / qw % qh, t = i / (qw * qh);
                    float* relT = (float*)kernel._relT.Pointer, relH = (float*)kernel._relH.Pointer,
                        relW = (float*)kernel._relW.Pointer;
                    for (int a = 0; a < kt; a++)
                        pt[a] = Dot(q, relT + (long)RelPosAttentionOp.RelIndex(t, a, qt, kt) * d, d);
                    for (int a = 0; a < kh; a++)
                        ph[a] = Dot(q, relH + (long)RelPosAttentionOp.RelIndex(yy, a, qh, kh) * d, d);
                    for (int a = 0; a < kw; a++)
                        pw[a] = Dot(q, relW + (long)RelPosAttentionOp.RelIndex(x, a, qw, kw) * d, d);
                }

                // The class key starts the running softmax: max = its logit, sum = 1, acc = v0.
                float max = Dot(qs, kb, d), sum = 1f;
                new Span<float>(vb, d).CopyTo(new Span<float>(acc, d));
                // Key m ≥ 1 sits at (t2, y2, x2); walk the grid in order instead of dividing.
                int t2 = 0, y2 = 0, x2 = 0;
                for (int m0 = 1; m0 < nk; m0 += Chunk)
                {
                    int len = Math.Min(Chunk, nk - m0);
                    float cmax = float.NegativeInfinity;
                    for (int c = 0; c < len; c++)
                    {
                        float l = Dot(qs, kb + (long)(m0 + c) * d, d);
                        if (n > 0) l += pt[t2] + ph[y2] + pw[x2];
                        s[c] = l;
                        if (l > cmax) cmax = l;
                        if (++x2 == kw) { x2 = 0; if (++y2 == kh) { y2 = 0; t2++; } }
                    }
                    if (cmax > max)
                    {
                        float r = MathF.Exp(max - cmax);
                        sum *= r;
                        Scale(acc, r, d);
                        max = cmax;
                    }
                    for (int c = 0; c < len; c++)
                    {
                        float p = MathF.Exp(s[c] - max);
                        sum += p;
                        Axpy(acc, p, vb + (long)(m0 + c) * d, d);
                    }
                }
                float inv = 1f / sum;
                if (op.ResidualPooling && n > 0)
                    for (int j = 0; j < d; j++) y[j] = acc[j] * inv + q[j];
                else
                    for (int j = 0; j < d; j++) y[j] = acc[j] * inv;
            }
        }
    }

    private static float Dot(float* a, float* b, int n)
    {
        int vw = Vector<float>.Count, i = 0;
        float r = 0f;
        if (n >= 2 * vw)
        {
            var s0 = Vector<float>.Zero; var s1 = s0;
            for (; i <= n - 2 * vw; i += 2 * vw)
            {
                s0 += Vector.Load(a + i) * Vector.Load(b + i);
                s1 += Vector.Load(a + i + vw) * Vector.Load(b + i + vw);
            }
            for (; i <= n - vw; i += vw) s0 += Vector.Load(a + i) * Vector.Load(b + i);
            r = Vector.Sum(s0 + s1);
        }
        for (; i < n; i++) r += a[i] * b[i];
        return r;
    }

    /// <summary>acc += p·v over n floats.</summary>
    private static void Axpy(float* acc, float p, float* v, int n)
    {
        int vw = Vector<float>.Count, i = 0;
        var pv = new Vector<float>(p);
        for (; i <= n - vw; i += vw) (Vector.Load(acc + i) + pv * Vector.Load(v + i)).Store(acc + i);
        for (; i < n; i++) acc[i] += p * v[i];
    }

    private static void Scale(float* acc, float r, int n)
    {
        int vw = Vector<float>.Count, i = 0;
        var rv = new Vector<float>(r);
        for (; i <= n - vw; i += vw) (Vector.Load(acc + i) * rv).Store(acc + i);
        for (; i < n; i++) acc[i] *= r;
    }

    public void Dispose() { _tiled.Dispose(); _relT.Dispose(); _relH.Dispose(); _relW.Dispose(); }
}

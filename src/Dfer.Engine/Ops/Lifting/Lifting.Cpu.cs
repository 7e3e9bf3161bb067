using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Lifting;

/// <summary>
/// The lifting step on the CPU, composed of primitives: <see cref="FrameBlend"/> for the split,
/// <see cref="LayerNormRows"/> for WaveNorm, <see cref="RowGemm"/> for the six projections (the output
/// projections accumulate into the residual stream; project_d's weights are stored negated so the
/// predictor's subtraction is an accumulate too), and a cross-attention loop with one work item per
/// (b, head, query). Scratch buffers are owned by the kernel and grow with the run's size.
/// </summary>
public sealed unsafe class LiftingCpu : ICpuKernel, IDisposable
{
    private readonly LiftingOp _op;
    private readonly LayerNormRows _xaNorm, _xdNorm;
    private readonly RowGemm[] _gemms;
    private readonly AttendWork _attend = new();
    private NativeBuffer? _raw, _xa, _q, _kv, _o;

    public LiftingCpu(LiftingOp op)
    {
        _op = op;
        _xaNorm = new LayerNormRows(op.XaNorm);
        _xdNorm = new LayerNormRows(op.XdNorm);
        // qA, kvD, projA, qD, kvA, −projD.
        _gemms = new[] { op.QA, op.KvD, op.ProjectA, op.QD, op.KvA, op.ProjectD }.Select((l, i) => i == 5
            ? new RowGemm(l.In, l.Out, l.Weight.Select(v => -v).ToArray(), l.Bias!.Select(v => -v).ToArray())
            : new RowGemm(l.In, l.Out, l.Weight, l.Bias)).ToArray();
    }

    private static NativeBuffer Ensure(ref NativeBuffer? buf, long floats)
    {
        if (buf == null || buf.Bytes < floats * sizeof(float))
        {
            buf?.Dispose();
            buf = new NativeBuffer(floats * sizeof(float));
        }
        return buf;
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var y = CpuChecks.Dense(inputs[0]);
        var idxA = CpuChecks.Dense(inputs[1]);
        var idxD = CpuChecks.Dense(inputs[2]);
        CpuChecks.ExpectDense(output, "lifting");
        int b = y.Shape[0], k = idxA.Shape[1], s = y.Shape[2], c = _op.Channels, n = k * s, rows = b * n;
        long tokens = (long)rows * c;
        int[] sampled = [b, k, s, c];
        var raw = new Tensor(Ensure(ref _raw, tokens), 0, sampled, Tensor.ContiguousStrides(sampled));
        var xa = new Tensor(Ensure(ref _xa, tokens), 0, sampled, Tensor.ContiguousStrides(sampled));
        var xd = new Tensor(output.Storage, output.Offset, sampled, Tensor.ContiguousStrides(sampled));
        float* q = (float*)Ensure(ref _q, tokens).Pointer, kv = (float*)Ensure(ref _kv, 2 * tokens).Pointer,
            o = (float*)Ensure(ref _o, tokens).Pointer;

        // Split and WaveNorm: Xa in scratch, Xd straight into the output.
        FrameBlend.Run(ctx, _op.Sample, y, idxA, raw);
        _xaNorm.Run(ctx, raw, xa);
        FrameBlend.Run(ctx, _op.Sample, y, idxD, raw);
        _xdNorm.Run(ctx, raw, xd);

        var qBuf = _q!; var kvBuf = _kv!; var oBuf = _o!;
        // Updater: Xa += proj_a(CA(Xa, Xd)).
        _gemms[0].Run(ctx, xa.Storage, xa.Offset, qBuf, 0, rows, false);
        _gemms[1].Run(ctx, xd.Storage, xd.Offset, kvBuf, 0, rows, false);
        Attend(ctx, q, kv, o, b, n);
        _gemms[2].Run(ctx, oBuf, 0, xa.Storage, xa.Offset, rows, true);

        // Predictor: Xd += (−proj_d)(CA(Xd, Xa')).
        _gemms[3].Run(ctx, xd.Storage, xd.Offset, qBuf, 0, rows, false);
        _gemms[4].Run(ctx, xa.Storage, xa.Offset, kvBuf, 0, rows, false);
        Attend(ctx, q, kv, o, b, n);
        _gemms[5].Run(ctx, oBuf, 0, xd.Storage, xd.Offset, rows, true);
    }

    private void Attend(CpuContext ctx, float* q, float* kv, float* o, int b, int n)
    {
        _attend.Q = q; _attend.Kv = kv; _attend.O = o; _attend.N = n; _attend.Ctx = ctx;
        _attend.Heads = _op.Heads; _attend.HeadDim = _op.HeadDim; _attend.Scale = (float)_op.Scale;
        ctx.Pool.Run(_attend, b * _op.Heads * n);
        _attend.Ctx = null;
    }

    /// <summary>Item = (b, head, query i): scores over the N keys in the thread's scratch, softmax, then P·V +
    /// V[i].</summary>
    private sealed class AttendWork : IParallelWork
    {
        public float* Q, Kv, O;
        public int N, Heads, HeadDim;
        public float Scale;
        public CpuContext? Ctx;

        public void Execute(int item, int thread)
        {
            int n = N, hd = HeadDim, c = Heads * hd;
            int i = item % n, h = item / n % Heads, bi = item / (n * Heads);
            float* s = Ctx!.Scratch(thread, n);
            float* qr = Q + ((long)bi * n + i) * c + h * hd;
            float* k0 = Kv + (long)bi * n * 2 * c + h * hd, v0 = k0 + c;
            float max = float.NegativeInfinity;
            for (int j = 0; j < n; j++)
            {
                float dot = GemmNt.Dot(qr, k0 + (long)j * 2 * c, hd) * Scale;
                s[j] = dot;
                if (dot > max) max = dot;
            }
            float sum = 0f;
            for (int j = 0; j < n; j++) { float e = MathF.Exp(s[j] - max); s[j] = e; sum += e; }
            float inv = 1f / sum;
            float* dst = O + ((long)bi * n + i) * c + h * hd, vi = v0 + (long)i * 2 * c;
            for (int d = 0; d < hd; d++) dst[d] = vi[d];
            for (int j = 0; j < n; j++)
            {
                float p = s[j] * inv;
                float* vj = v0 + (long)j * 2 * c;
                for (int d = 0; d < hd; d++) dst[d] += p * vj[d];
            }
        }
    }

    public void Dispose()
    {
        foreach (var g in _gemms) g.Dispose();
        _raw?.Dispose(); _xa?.Dispose(); _q?.Dispose(); _kv?.Dispose(); _o?.Dispose();
    }
}

using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.SepConv2d;

/// <summary>
/// sepconv2d on the CPU. One work item per output row (n, oh): the depthwise taps of the row are
/// accumulated into a per-thread scratch row [Wo, C] with Vector&lt;float&gt; over channels
/// (weights packed tap-major, channel fastest), then each position's pointwise product runs as
/// vectors over output channels (weights packed [C][Cout], zero-padded to whole vectors) with the
/// bias and activation applied before the store. A depthwise-only op (no pointwise matrix) with AVX2 takes its
/// own path (<see cref="DepthwiseRow"/>): each output position's channel vectors gather their taps in registers,
/// starting from the bias, and get the activation before one store, with the window's in-bounds rows and columns
/// found once per position rather than per tap.
/// </summary>
public sealed unsafe class SepConv2dCpu : ICpuKernel, IDisposable
{
    private static readonly int V = Vector<float>.Count;
    private readonly SepConv2dOp _op;
    private readonly NativeBuffer _dw, _pw, _bias;
    private readonly int _cPad, _coPad;
    private readonly Work _work;

    public SepConv2dCpu(SepConv2dOp op)
    {
        _op = op;
        int c = op.Channels, co = op.Cout, taps = op.Kernel.H * op.Kernel.W;
        _cPad = (c + V - 1) / V * V;
        _coPad = (co + V - 1) / V * V;
        _dw = new NativeBuffer((long)taps * _cPad * sizeof(float));
        float* dw = (float*)_dw.Pointer;
        for (int ch = 0; ch < c; ch++)
            for (int t = 0; t < taps; t++) dw[(long)t * _cPad + ch] = op.Depthwise[(long)ch * taps + t];
        _pw = new NativeBuffer(Math.Max(1L, (long)c * _coPad) * sizeof(float));
        if (op.Pointwise != null)
        {
            float* pw = (float*)_pw.Pointer;
            for (int o = 0; o < co; o++)
                for (int ch = 0; ch < c; ch++) pw[(long)ch * _coPad + o] = op.Pointwise[(long)o * c + ch];
        }
        _bias = new NativeBuffer((long)_coPad * sizeof(float));
        op.Bias?.CopyTo(new Span<float>(_bias.Pointer, co));
        _work = new Work(this);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "sepconv2d");
        _work.Ctx = ctx; _work.X = x; _work.Y = output;
        ctx.Pool.Run(_work, output.Shape[0] * output.Shape[1]);
        _work.X = _work.Y = null; _work.Ctx = null;
    }

    private sealed class Work(SepConv2dCpu k) : IParallelWork
    {
        public CpuContext? Ctx;
        public Tensor? X, Y;

        public void Execute(int item, int thread)
        {
            var op = k._op;
            Tensor x = X!, y = Y!;
            if (op.Pointwise == null && Ctx!.UseSimd)
            {
                k.DepthwiseRow(x, y, item);
                return;
            }
            int h = x.Shape[1], w = x.Shape[2], c = op.Channels, ho = y.Shape[1], wo = y.Shape[2], co = op.Cout;
            int oh = item % ho, n = item / ho;
            var (kh, kw) = op.Kernel;
            int cPad = k._cPad, coPad = k._coPad;
            float* d = Ctx!.Scratch(thread, (long)wo * cPad + coPad);
            float* tail = d + (long)wo * cPad;
            float* dw = (float*)k._dw.Pointer;
            new Span<float>(d, wo * cPad).Clear();
            // Depthwise: the scratch row's channel vectors gather the in-bounds taps.
            for (int a = 0; a < kh; a++)
            {
                int ih = oh * op.Stride.H - op.Pad.Top + a;
                if (ih < 0 || ih >= h) continue;
                float* xrow = x.Data + ((long)n * h + ih) * w * c;
                for (int ow = 0; ow < wo; ow++)
                {
                    float* dd = d + (long)ow * cPad;
                    for (int b = 0; b < kw; b++)
                    {
                        int iw = ow * op.Stride.W - op.Pad.Left + b;
                        if (iw < 0 || iw >= w) continue;
                        float* xp = xrow + (long)iw * c;
                        float* wt = dw + (long)(a * kw + b) * cPad;
                        int ch = 0;
                        for (; ch <= c - V; ch += V)
                            Vector.Store(Vector.Load(dd + ch) + Vector.Load(xp + ch) * Vector.Load(wt + ch), dd + ch);
                        for (; ch < c; ch++) dd[ch] += xp[ch] * wt[ch];
                    }
                }
            }
            float* bias = (float*)k._bias.Pointer;
            float* yrow = y.Data + ((long)n * ho + oh) * wo * co;
            var act = op.Act;
            if (op.Pointwise == null)
            {
                for (int ow = 0; ow < wo; ow++)
                    for (int ch = 0; ch < c; ch++)
                        yrow[(long)ow * co + ch] = ActivationMath.Apply(act, d[(long)ow * cPad + ch] + bias[ch]);
                return;
            }
            float* pw = (float*)k._pw.Pointer;
            var zero = Vector<float>.Zero;
            var slope = new Vector<float>(ActivationMath.LeakySlope);
            var cap = new Vector<float>(ActivationMath.Relu6Cap);
            for (int ow = 0; ow < wo; ow++)
            {
                float* dd = d + (long)ow * cPad;
                float* yp = yrow + (long)ow * co;
                for (int o = 0; o < coPad; o += V)
                {
                    var acc = Vector.Load(bias + o);
                    float* wp = pw + o;
                    for (int ch = 0; ch < c; ch++, wp += coPad) acc += new Vector<float>(dd[ch]) * Vector.Load(wp);
                    // NaN must survive the activation, as in the scalar definition.
                    if (act == Activation.Relu)
                        acc = Vector.ConditionalSelect(Vector.LessThanOrEqual(acc, zero), zero, acc);
                    else if (act == Activation.Leaky) acc =
                        Vector.ConditionalSelect(Vector.LessThan(acc, zero), acc * slope, acc);
                    else if (act == Activation.Relu6)
                        acc = Vector.ConditionalSelect(Vector.GreaterThan(acc, cap), cap,
                            Vector.ConditionalSelect(Vector.LessThanOrEqual(acc, zero), zero, acc));
                    if (o + V <= co) Vector.Store(acc, yp + o);
                    else
                    {
                        Vector.Store(acc, tail);
                        for (int j = 0; o + j < co; j++) yp[o + j] = tail[j];
                    }
                }
            }
        }
    }

    /// <summary>One output row (n, oh) of a depthwise-only op: per position, the window's in-bounds taps (rows
    /// <c>a0..a1</c>, columns <c>b0..b1</c>) accumulate into eight-channel registers from the bias; channels past the
    /// last whole vector go one by one.</summary>
    private void DepthwiseRow(Tensor x, Tensor y, int item)
    {
        var op = _op;
        int h = x.Shape[1], w = x.Shape[2], c = op.Channels, ho = y.Shape[1], wo = y.Shape[2];
        int oh = item % ho, n = item / ho;
        var (kh, kw) = op.Kernel;
        int cPad = _cPad, whole = c / 8 * 8;
        int ih0 = oh * op.Stride.H - op.Pad.Top;
        int a0 = Math.Max(0, -ih0), a1 = Math.Min(kh, h - ih0);
        float* dw = (float*)_dw.Pointer, bias = (float*)_bias.Pointer;
        float* xImage = x.Data + (long)n * h * w * c;
        float* yrow = y.Data + ((long)n * ho + oh) * wo * c;
        var act = op.Act;
        for (int ow = 0; ow < wo; ow++)
        {
            int iw0 = ow * op.Stride.W - op.Pad.Left;
            int b0 = Math.Max(0, -iw0), b1 = Math.Min(kw, w - iw0);
            float* yp = yrow + (long)ow * c;
            int ch = 0;
            // Four channel vectors at once: four independent FMA chains hide the FMA's latency.
            for (; ch + 32 <= whole; ch += 32)
            {
                Vector256<float> acc0 = Vector256.Load(bias + ch), acc1 = Vector256.Load(bias + ch + 8),
                    acc2 = Vector256.Load(bias + ch + 16), acc3 = Vector256.Load(bias + ch + 24);
                for (int a = a0; a < a1; a++)
                {
                    float* xp = xImage + ((long)(ih0 + a) * w + iw0 + b0) * c + ch;
                    float* wt = dw + ((long)a * kw + b0) * cPad + ch;
                    for (int b = b0; b < b1; b++, xp += c, wt += cPad)
                    {
                        acc0 = Fma.MultiplyAdd(Vector256.Load(xp), Vector256.Load(wt), acc0);
                        acc1 = Fma.MultiplyAdd(Vector256.Load(xp + 8), Vector256.Load(wt + 8), acc1);
                        acc2 = Fma.MultiplyAdd(Vector256.Load(xp + 16), Vector256.Load(wt + 16), acc2);
                        acc3 = Fma.MultiplyAdd(Vector256.Load(xp + 24), Vector256.Load(wt + 24), acc3);
                    }
                }
                ActivationMath.Apply(act, acc0).Store(yp + ch);
                ActivationMath.Apply(act, acc1).Store(yp + ch + 8);
                ActivationMath.Apply(act, acc2).Store(yp + ch + 16);
                ActivationMath.Apply(act, acc3).Store(yp + ch + 24);
            }
            for (; ch < whole; ch += 8)
            {
                var acc = Vector256.Load(bias + ch);
                for (int a = a0; a < a1; a++)
                {
                    float* xp = xImage + ((long)(ih0 + a) * w + iw0) * c + ch;
                    float* wt = dw + (long)a * kw * cPad + ch;
                    for (int b = b0; b < b1; b++)
                        acc = Fma.MultiplyAdd(Vector256.Load(xp + (long)b * c),
                            Vector256.Load(wt + (long)b * cPad), acc);
                }
                ActivationMath.Apply(act, acc).Store(yp + ch);
            }
            for (; ch < c; ch++)
            {
                float acc = bias[ch];
                for (int a = a0; a < a1; a++)
                    for (int b = b0; b < b1; b++)
                        acc = MathF.FusedMultiplyAdd(xImage[((long)(ih0 + a) * w + iw0 + b) * c + ch],
                            dw[(long)(a * kw + b) * cPad + ch], acc);
                yp[ch] = ActivationMath.Apply(act, acc);
            }
        }
    }

    public void Dispose() { _dw.Dispose(); _pw.Dispose(); _bias.Dispose(); }
}

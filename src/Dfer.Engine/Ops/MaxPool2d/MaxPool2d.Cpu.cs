using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.MaxPool2d;

/// <summary>
/// Channels-last 2D max pooling on the CPU: one work item per output row (n, h); each window's
/// in-bounds pixels are folded in with Vector&lt;float&gt; max over channels, NaN kept.
/// </summary>
public sealed unsafe class MaxPool2dCpu : ICpuKernel
{
    private readonly MaxPool2dOp _op;
    private readonly Work _work = new();

    public MaxPool2dCpu(MaxPool2dOp op) { _op = op; }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "maxpool2d");
        _work.Op = _op; _work.X = x; _work.Y = output;
        ctx.Pool.Run(_work, output.Shape[0] * output.Shape[1]);
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        public MaxPool2dOp Op = null!;
        public Tensor? X, Y;

        public void Execute(int item, int thread)
        {
            Tensor x = X!, yt = Y!;
            int h = x.Shape[1], w = x.Shape[2], c = x.Shape[3], ho = yt.Shape[1], wo = yt.Shape[2];
            int oh = item % ho, n = item / ho;
            var (k, s, p) = (Op.Kernel, Op.Stride, Op.Pad);
            int h0 = Math.Max(0, oh * s.H - p.Top), h1 = Math.Min(h, oh * s.H - p.Top + k.H);
            int vw = Vector<float>.Count;
            var ninf = new Vector<float>(float.NegativeInfinity);
            float* yrow = yt.Data + (long)item * wo * c;
            for (int ow = 0; ow < wo; ow++)
            {
                int w0 = Math.Max(0, ow * s.W - p.Left), w1 = Math.Min(w, ow * s.W - p.Left + k.W);
                float* y = yrow + (long)ow * c;
                int ch = 0;
                for (; ch <= c - vw; ch += vw) Vector.Store(ninf, y + ch);
                for (; ch < c; ch++) y[ch] = float.NegativeInfinity;
                for (int b = h0; b < h1; b++)
                    for (int d = w0; d < w1; d++)
                    {
                        float* xp = x.Data + (((long)n * h + b) * w + d) * c;
                        ch = 0;
                        for (; ch <= c - vw; ch += vw)
                        {
                            Vector<float> yv = Vector.Load(y + ch), xv = Vector.Load(xp + ch);
                            Vector<float> m = Vector.ConditionalSelect(Vector.Equals(xv, xv), Vector.Max(yv, xv), xv);
                            Vector.Store(Vector.ConditionalSelect(Vector.Equals(yv, yv), m, yv), y + ch);
                        }
                        for (; ch < c; ch++)
                        {
                            float v = xp[ch];
                            if (v > y[ch] || float.IsNaN(v) && !float.IsNaN(y[ch])) y[ch] = v;
                        }
                    }
            }
        }
    }
}

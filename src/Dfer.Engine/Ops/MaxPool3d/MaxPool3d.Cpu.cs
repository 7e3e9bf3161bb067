using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.MaxPool3d;

/// <summary>
/// Channels-last max pooling on the CPU: one work item per output row (n, t, h); per output
/// position the window's in-bounds pixels are folded in with Vector&lt;float&gt; max over channels.
/// </summary>
public sealed unsafe class MaxPool3dCpu : ICpuKernel
{
    private readonly MaxPool3dOp _op;
    private readonly Work _work = new();

    public MaxPool3dCpu(MaxPool3dOp op) { _op = op; }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "maxpool3d");
        _work.Op = _op; _work.X = x; _work.Y = output;
        _work.In = x.Shape; _work.Out = output.Shape;
        ctx.Pool.Run(_work, output.Shape[0] * output.Shape[1] * output.Shape[2]);
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        public MaxPool3dOp Op = null!;
        public Tensor? X, Y;
        public int[] In = null!, Out = null!;

        public void Execute(int item, int thread)
        {
            int t = In[1], h = In[2], w = In[3], c = In[4];
            int to = Out[1], ho = Out[2], wo = Out[3];
            int oh = item % ho, ot = item / ho % to, n = item / (ho * to);
            var (k, s, p) = (Op.Kernel, Op.Stride, Op.Pad);
            int t0 = Math.Max(0, ot * s.T - p.T), t1 = Math.Min(t, ot * s.T - p.T + k.T);
            int h0 = Math.Max(0, oh * s.H - p.H), h1 = Math.Min(h, oh * s.H - p.H + k.H);
            int vw = Vector<float>.Count;
            var ninf = new Vector<float>(float.NegativeInfinity);
            float* yrow = Y!.Data + (long)item * wo * c;
            for (int ow = 0; ow < wo; ow++)
            {
                int w0 = Math.Max(0, ow * s.W - p.W), w1 = Math.Min(w, ow * s.W - p.W + k.W);
                float* y = yrow + (long)ow * c;
                int ch = 0;
                for (; ch <= c - vw; ch += vw) Vector.Store(ninf, y + ch);
                for (; ch < c; ch++) y[ch] = float.NegativeInfinity;
                for (int a = t0; a < t1; a++)
                    for (int b = h0; b < h1; b++)
                        for (int d = w0; d < w1; d++)
                        {
                            float* x = X!.Data + ((((long)n * t + a) * h + b) * w + d) * c;
                            ch = 0;
                            for (; ch <= c - vw; ch += vw)
                            {
                                // NaN wins, as in PyTorch: maxps alone would let a later number replace it.
                                Vector<float> yv = Vector.Load(y + ch), xv = Vector.Load(x + ch);
                                Vector<float> m = Vector.ConditionalSelect(Vector.Equals(xv, xv), Vector.Max(yv, xv), xv);
                                Vector.Store(Vector.ConditionalSelect(Vector.Equals(yv, yv), m, yv), y + ch);
                            }
                            for (; ch < c; ch++)
                            {
                                float v = x[ch];
                                if (v > y[ch] || float.IsNaN(v)) y[ch] = v;
                            }
                        }
            }
        }
    }
}

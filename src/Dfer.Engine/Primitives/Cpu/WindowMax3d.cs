using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// Channels-last 3D window max on the CPU, [N,T,H,W,C] → [N,To,Ho,Wo,C] (dense tensors): one work item per
/// output row (n, t, h); per output position the window's in-bounds pixels are folded in with
/// Vector&lt;float&gt; max over channels; −∞ padding, NaN propagates as in PyTorch.
/// </summary>
public sealed unsafe class WindowMax3d : IParallelWork
{
    private readonly Pool3dGeometry _g;
    private Tensor? _x, _y;
    private int[] _in = null!, _out = null!;

    public WindowMax3d(Pool3dGeometry geometry) { _g = geometry; }

    public void Run(CpuContext ctx, Tensor x, Tensor y)
    {
        _x = x; _y = y; _in = x.Shape; _out = y.Shape;
        ctx.Pool.Run(this, y.Shape[0] * y.Shape[1] * y.Shape[2]);
        _x = _y = null;
    }

    public void Execute(int item, int thread)
    {
        int t = _in[1], h = _in[2], w = _in[3], c = _in[4];
        int to = _out[1], ho = _out[2], wo = _out[3];
        int oh = item % ho, ot = item / ho % to, n = item / (ho * to);
        var (k, s, p) = (_g.Kernel, _g.Stride, _g.Pad);
        int t0 = Math.Max(0, ot * s.T - p.T), t1 = Math.Min(t, ot * s.T - p.T + k.T);
        int h0 = Math.Max(0, oh * s.H - p.H), h1 = Math.Min(h, oh * s.H - p.H + k.H);
        int vw = Vector<float>.Count;
        var ninf = new Vector<float>(float.NegativeInfinity);
        float* yrow = _y!.Data + (long)item * wo * c;
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
                        float* x = _x!.Data + ((((long)n * t + a) * h + b) * w + d) * c;
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

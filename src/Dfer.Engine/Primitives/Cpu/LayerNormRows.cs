using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// LayerNorm over the last axis of dense rows on the CPU: work items are blocks of rows; per row two passes
/// (mean, then the sum of squared deviations, which cannot cancel the way E[x²] − mean² does), each in
/// Vector&lt;float&gt; lanes. In place is allowed: each row is read in full before any of it is written.
/// </summary>
public sealed unsafe class LayerNormRows
{
    private readonly LayerNormWeights _w;
    private readonly Work _work = new();

    public LayerNormRows(LayerNormWeights weights) { _w = weights; }

    /// <summary>Normalises every C-row of the dense <paramref name="x"/> into the dense <paramref name="y"/>.</summary>
    public void Run(CpuContext ctx, Tensor x, Tensor y)
    {
        int c = _w.Channels;
        long rows = x.ElementCount / c;
        // About 16K elements per work item: enough to amortise claiming it, small enough to balance.
        int perItem = Math.Max(1, 16384 / c);
        _work.X = x; _work.Y = y; _work.Op = _w; _work.Rows = rows; _work.PerItem = perItem;
        ctx.Pool.Run(_work, (int)((rows + perItem - 1) / perItem));
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        public Tensor? X, Y;
        public LayerNormWeights Op = null!;
        public long Rows;
        public int PerItem;

        public void Execute(int item, int thread)
        {
            int c = Op.Channels, vw = Vector<float>.Count;
            float eps = (float)Op.Eps;
            long end = Math.Min(Rows, (long)(item + 1) * PerItem);
            fixed (float* w = Op.Weight, bias = Op.Bias)
            {
                for (long r = (long)item * PerItem; r < end; r++)
                {
                    float* xr = X!.Data + r * c, yr = Y!.Data + r * c;
                    int i = 0;
                    var acc = Vector<float>.Zero;
                    for (; i <= c - vw; i += vw) acc += Vector.Load(xr + i);
                    float sum = Vector.Sum(acc);
                    for (; i < c; i++) sum += xr[i];
                    float mean = sum / c;
                    var vm = new Vector<float>(mean);
                    acc = Vector<float>.Zero;
                    i = 0;
                    for (; i <= c - vw; i += vw) { var d = Vector.Load(xr + i) - vm; acc += d * d; }
                    float sq = Vector.Sum(acc);
                    for (; i < c; i++) { float d = xr[i] - mean; sq += d * d; }
                    float inv = 1f / MathF.Sqrt(sq / c + eps);
                    var vi = new Vector<float>(inv);
                    i = 0;
                    for (; i <= c - vw; i += vw)
                        Vector.Store((Vector.Load(xr + i) - vm) * vi * Vector.Load(w + i) + Vector.Load(bias + i),
                            yr + i);
                    for (; i < c; i++) yr[i] = (xr[i] - mean) * inv * w[i] + bias[i];
                }
            }
        }
    }
}

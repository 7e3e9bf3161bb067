using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Lstm;

/// <summary>
/// LSTM on the CPU: per layer and direction, one GEMM projects every time step's input at once (both biases folded
/// in). Then each time step is one dispatch for both directions: a work item owns <see cref="Units"/> hidden units of
/// one direction, computes their four gate rows h·W_hhᵀ (each weight vector loaded once for up to four batch rows),
/// adds the projected input and applies the gates and the cell update, reading the previous h and writing the next
/// (two buffers per direction). The recurrence streams W_hh every step, so the weights, not the arithmetic, bound it;
/// one dispatch per step instead of one per direction and step, with no serial gate loop between, is what the
/// threads save.
/// </summary>
public sealed unsafe class LstmCpu : ICpuKernel, IDisposable
{
    /// <summary>Hidden units per work item of a step.</summary>
    public const int Units = 16;

    private readonly LstmOp _op;
    private readonly List<NativeBuffer> _owned = new();
    private readonly (IntPtr Wih, IntPtr Whh, IntPtr Bias)[][] _cells;
    private readonly GemmNt _gemm = new();
    private readonly StepWork _step;
    private NativeBuffer? _scratch;

    public LstmCpu(LstmOp op)
    {
        _op = op;
        _cells = op.Layers.Select(layer => layer.Select(c =>
        {
            var bias = new float[c.Bih.Length];
            for (int i = 0; i < bias.Length; i++) bias[i] = c.Bih[i] + c.Bhh[i];
            return (Copy(c.Wih), Copy(c.Whh), Copy(bias));
        }).ToArray()).ToArray();
        _step = new StepWork(this);
    }

    private IntPtr Copy(float[] data)
    {
        var buf = new NativeBuffer((long)data.Length * sizeof(float));
        data.CopyTo(new Span<float>(buf.Pointer, data.Length));
        _owned.Add(buf);
        return (IntPtr)buf.Pointer;
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "lstm");
        int b = x.Shape[0], len = x.Shape[1], hid = _op.Hidden, dirs = _op.Directions, width = hid * dirs;
        long proj = (long)b * len * 4 * hid, layerOut = (long)b * len * width, state = (long)b * hid;
        // Per direction: its input projection, h (two buffers) and c.
        long need = dirs * (proj + 3 * state) + 2L * layerOut;
        if (_scratch == null || _scratch.Bytes < need * sizeof(float))
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer(need * sizeof(float));
        }
        float* bufA = (float*)_scratch.Pointer, bufB = bufA + layerOut, dirState = bufB + layerOut;

        float* input = x.Data;
        int inSize = x.Shape[2];
        var w = _step;
        (w.Ctx, w.B, w.Len, w.Width) = (ctx, b, len, width);
        for (int l = 0; l < _cells.Length; l++)
        {
            float* dst = l == _cells.Length - 1 ? output.Data : (l % 2 == 0 ? bufA : bufB);
            w.Dst = dst;
            for (int d = 0; d < dirs; d++)
            {
                var (wih, whh, bias) = _cells[l][d];
                float* xproj = dirState + d * (proj + 3 * state);
                _gemm.Run(ctx, input, b * len, inSize, (float*)wih, 4 * hid, (float*)bias, xproj, false);
                new Span<float>(xproj + proj, (int)(3 * state)).Clear();
                w.Dir[d] = new Direction
                {
                    XProj = xproj,
                    Whh = (float*)whh,
                    H = xproj + proj,
                    HNext = xproj + proj + state,
                    C = xproj + proj + 2 * state,
                };
            }
            for (int step = 0; step < len; step++)
            {
                w.Step = step;
                ctx.Pool.Run(w, dirs * ((hid + Units - 1) / Units));
                // The h just written becomes the previous h of the next step.
                for (int d = 0; d < dirs; d++)
                {
                    float* previous = w.Dir[d].H;
                    w.Dir[d].H = w.Dir[d].HNext;
                    w.Dir[d].HNext = previous;
                }
            }
            input = dst;
            inSize = width;
        }
        w.Ctx = null;
    }

    /// <summary>A direction's buffers: its projected inputs [B, L, 4H], W_hh, h before and after the step, c.</summary>
    private struct Direction
    {
        public float* XProj, Whh, H, HNext, C;
    }

    /// <summary>One time step of every direction: item = (direction, block of <see cref="Units"/> hidden
    /// units).</summary>
    private sealed class StepWork(LstmCpu k) : IParallelWork
    {
        public CpuContext? Ctx;
        public int B, Len, Width, Step;
        public float* Dst;
        public readonly Direction[] Dir = new Direction[2];

        public void Execute(int index, int thread)
        {
            int hid = k._op.Hidden, blocks = (hid + Units - 1) / Units;
            int d = index / blocks, j0 = index % blocks * Units, j1 = Math.Min(hid, j0 + Units);
            var dir = Dir[d];
            float* xproj = dir.XProj, whh = dir.Whh, h = dir.H, hNext = dir.HNext, c = dir.C;
            int s = d == 0 ? Step : Len - 1 - Step;
            bool simd = Ctx!.UseSimd && Vector256.IsHardwareAccelerated, wide = Ctx.UseAvx512;
            float* sums = stackalloc float[4 * 4];
            for (int b0 = 0; b0 < B; b0 += 4)
            {
                int rows = Math.Min(4, B - b0);
                float* h0 = h + (long)b0 * hid;
                float* h1 = rows > 1 ? h0 + hid : h0, h2 = rows > 2 ? h0 + 2L * hid : h0,
                    h3 = rows > 3 ? h0 + 3L * hid : h0;
                for (int j = j0; j < j1; j++)
                {
                    // Gate rows i, f, g, o of unit j, each against up to four batch rows.
                    for (int q = 0; q < 4; q++)
                        GemmNt.DotRows(h0, h1, h2, h3, whh + ((long)q * hid + j) * hid, hid, sums + 4 * q, simd,
                            wide);
                    for (int r = 0; r < rows; r++)
                    {
                        int bi = b0 + r;
                        float* g = xproj + ((long)bi * Len + s) * 4 * hid;
                        float ig = Sigmoid(g[j] + sums[r]), fg = Sigmoid(g[hid + j] + sums[4 + r]),
                            gg = MathF.Tanh(g[2 * hid + j] + sums[8 + r]), og = Sigmoid(g[3 * hid + j] + sums[12 + r]);
                        float* cb = c + (long)bi * hid;
                        cb[j] = fg * cb[j] + ig * gg;
                        float hv = og * MathF.Tanh(cb[j]);
                        hNext[(long)bi * hid + j] = hv;
                        Dst[((long)bi * Len + s) * Width + d * hid + j] = hv;
                    }
                }
            }
        }
    }

    private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));

    public void Dispose()
    {
        foreach (var b in _owned) b.Dispose();
        _scratch?.Dispose();
    }
}

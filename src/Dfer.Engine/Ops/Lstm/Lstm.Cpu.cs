using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Lstm;

/// <summary>
/// LSTM on the CPU: per layer and direction, one GEMM projects every time step's input at once
/// (both biases folded in), then each step adds h·W_hhᵀ and applies the gates. The recurrence is
/// weight-bandwidth bound at small batch, so the GEMM splits columns across threads.
/// </summary>
public sealed unsafe class LstmCpu : ICpuKernel, IDisposable
{
    private readonly LstmOp _op;
    private readonly List<NativeBuffer> _owned = new();
    private readonly (IntPtr Wih, IntPtr Whh, IntPtr Bias)[][] _cells;
    private readonly GemmNt _gemm = new();
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
        long proj = (long)b * len * 4 * hid, layerOut = (long)b * len * width;
        long need = proj + 2L * layerOut + 4L * b * hid + 2L * b * hid;
        if (_scratch == null || _scratch.Bytes < need * sizeof(float))
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer(need * sizeof(float));
        }
        float* xproj = (float*)_scratch.Pointer;
        float* bufA = xproj + proj, bufB = bufA + layerOut;
        float* gates = bufB + layerOut, h = gates + 4L * b * hid, c = h + (long)b * hid;

        float* input = x.Data;
        int inSize = x.Shape[2];
        for (int l = 0; l < _cells.Length; l++)
        {
            float* dst = l == _cells.Length - 1 ? output.Data : (l % 2 == 0 ? bufA : bufB);
            for (int d = 0; d < dirs; d++)
            {
                var (wih, whh, bias) = _cells[l][d];
                _gemm.Run(ctx, input, b * len, inSize, (float*)wih, 4 * hid, (float*)bias, xproj, false);
                new Span<float>(h, b * hid).Clear();
                new Span<float>(c, b * hid).Clear();
                for (int step = 0; step < len; step++)
                {
                    int s = d == 0 ? step : len - 1 - step;
                    for (int bi = 0; bi < b; bi++)
                        new Span<float>(xproj + ((long)bi * len + s) * 4 * hid, 4 * hid)
                            .CopyTo(new Span<float>(gates + (long)bi * 4 * hid, 4 * hid));
                    _gemm.Run(ctx, h, b, hid, (float*)whh, 4 * hid, null, gates, true);
                    for (int bi = 0; bi < b; bi++)
                    {
                        float* g = gates + (long)bi * 4 * hid;
                        float* hb = h + (long)bi * hid, cb = c + (long)bi * hid;
                        float* o = dst + ((long)bi * len + s) * width + d * hid;
                        for (int j = 0; j < hid; j++)
                        {
                            float ig = Sigmoid(g[j]), fg = Sigmoid(g[hid + j]), gg = MathF.Tanh(g[2 * hid + j]),
                                og = Sigmoid(g[3 * hid + j]);
                            cb[j] = fg * cb[j] + ig * gg;
                            o[j] = hb[j] = og * MathF.Tanh(cb[j]);
                        }
                    }
                }
            }
            input = dst;
            inSize = width;
        }
    }

    private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));

    public void Dispose()
    {
        foreach (var b in _owned) b.Dispose();
        _scratch?.Dispose();
    }
}

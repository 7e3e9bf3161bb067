using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Lstm;

/// <summary>Shapes of one LSTM step launch.</summary>
internal struct LstmIlgpuParams
{
    public int Batch, Len, Hidden, Directions, Step, Direction;
}

/// <summary>
/// A (bi)directional multi-layer LSTM on ILGPU. Per layer and direction, the input projection of
/// every time step is one GEMM launch (x·W_ihᵀ + b_ih + b_hh, reusing the linear kernel); then one
/// launch per time step, one thread per (b, hidden unit), adds h_{t−1}·W_hhᵀ for its four gates and
/// updates its own c and h. h_{t−1} is read from the layer's output at the previous step, so steps
/// need no other synchronisation than launch order. W_hh is stored transposed for coalesced reads.
/// </summary>
public sealed class LstmIlgpu : IIlgpuKernel
{
    private readonly LstmOp _op;
    private readonly (MemoryBuffer1D<float, Stride1D.Dense> WihT, MemoryBuffer1D<float, Stride1D.Dense> Bias,
        MemoryBuffer1D<float, Stride1D.Dense> WhhT)[][] _cells;
    private MemoryBuffer1D<float, Stride1D.Dense>? _gates, _cellState, _between;

    public LstmIlgpu(IlgpuDevice device, LstmOp op)
    {
        _op = op;
        int h4 = 4 * op.Hidden;
        _cells = op.Layers.Select((layer, l) => layer.Select(cell =>
        {
            int inSize = l == 0 ? op.InputSize : op.Hidden * op.Directions;
            var bias = new float[h4];
            for (int g = 0; g < h4; g++) bias[g] = cell.Bih[g] + cell.Bhh[g];
            return (device.Upload(IlgpuDenseRows.Transpose(cell.Wih, h4, inSize)), device.Upload(bias),
                device.Upload(IlgpuDenseRows.Transpose(cell.Whh, h4, op.Hidden)));
        }).ToArray()).ToArray();
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        int batch = x[0], len = x[1], hid = _op.Hidden, dirs = _op.Directions;
        long rows = (long)batch * len;
        Ensure(device, ref _gates, rows * 4 * hid);
        Ensure(device, ref _cellState, (long)batch * hid);
        if (_op.Layers.Length > 1) Ensure(device, ref _between, rows * dirs * hid);

        var gemv = device.Kernel(IlgpuDenseRows.Gemv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(IlgpuDenseRows.Gemv));
        var step = device.Kernel(Step, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, LstmIlgpuParams>(Step));
        ArrayView<float> layerInput = inputs[0];
        int inSize = x[2];
        for (int l = 0; l < _cells.Length; l++)
        {
            // Layers alternate between the scratch buffer and the output so the last one lands in the output.
            bool toOutput = (_cells.Length - 1 - l) % 2 == 0;
            ArrayView<float> layerOutput = toOutput ? output : _between!.View.SubView(0, rows * dirs * hid);
            for (int d = 0; d < dirs; d++)
            {
                var (wihT, bias, whhT) = _cells[l][d];
                gemv(IlgpuLaunch.Count(rows * 4 * hid), layerInput, wihT.View, bias.View, _gates!.View, inSize,
                    4 * hid);
                for (int s = 0; s < len; s++)
                {
                    var p = new LstmIlgpuParams
                    {
                        Batch = batch,
                        Len = len,
                        Hidden = hid,
                        Directions = dirs,
                        Step = s,
                        Direction = d
                    };
                    step(IlgpuLaunch.Count((long)batch * hid), _gates.View, whhT.View, _cellState!.View, layerOutput,
                        p);
                }
            }
            layerInput = layerOutput;
            inSize = dirs * hid;
        }
    }

    private static void Ensure(IlgpuDevice device, ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        if (buffer is not null && buffer.Length >= length) return;
        buffer?.Dispose();
        buffer = device.Allocate(length);
    }

    private static float Sigmoid(float v) => 1f / (1f + XMath.Exp(-v));

    private static void Step(Index1D index, ArrayView<float> gates, ArrayView<float> whhT, ArrayView<float> cell,
        ArrayView<float> y, LstmIlgpuParams p)
    {
        int j = index % p.Hidden, b = index / p.Hidden;
        int h = p.Hidden, h4 = 4 * p.Hidden;
        int t = p.Direction == 0 ? p.Step : p.Len - 1 - p.Step;
        long g = ((long)b * p.Len + t) * h4;
        float gi = gates[g + j], gf = gates[g + h + j], gg = gates[g + 2 * h + j], go = gates[g + 3 * h + j];
        if (p.Step > 0)
        {
            int tp = p.Direction == 0 ? t - 1 : t + 1;
            long hp = ((long)b * p.Len + tp) * p.Directions * h + (long)p.Direction * h;
            for (int m = 0; m < h; m++)
            {
                float hm = y[hp + m];
                long w = (long)m * h4 + j;
                gi += hm * whhT[w];
                gf += hm * whhT[w + h];
                gg += hm * whhT[w + 2 * h];
                go += hm * whhT[w + 3 * h];
            }
        }
        long ci = (long)b * h + j;
        float c = (p.Step > 0 ? Sigmoid(gf) * cell[ci] : 0f) + Sigmoid(gi) * XMath.Tanh(gg);
        cell[ci] = c;
        y[((long)b * p.Len + t) * p.Directions * h + (long)p.Direction * h + j] = Sigmoid(go) * XMath.Tanh(c);
    }

    public void Dispose()
    {
        foreach (var layer in _cells)
            foreach (var (wihT, bias, whhT) in layer)
            {
                wihT.Dispose();
                bias.Dispose();
                whhT.Dispose();
            }
        _gates?.Dispose();
        _cellState?.Dispose();
        _between?.Dispose();
    }
}

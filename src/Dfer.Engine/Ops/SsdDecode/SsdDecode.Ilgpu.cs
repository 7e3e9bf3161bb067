using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.SsdDecode;

/// <summary>Geometry of one level's ssddecode launch.</summary>
internal struct SsdDecodeIlgpuParams
{
    public int Cells, Channels, PerCell, Offset, Boxes, Classes, ScoreClass;
    public float CenterScale, SizeScale;
}

/// <summary>SSD decoding on ILGPU: one launch per level, one thread per (image, cell, anchor) box, writing its
/// row of the concatenated output.</summary>
public sealed class SsdDecodeIlgpu : IIlgpuKernel
{
    private readonly SsdDecodeOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _anchors;

    public SsdDecodeIlgpu(IlgpuDevice device, SsdDecodeOp op)
    {
        _op = op;
        _anchors = device.Upload(op.Anchors);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Decode, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, SsdDecodeIlgpuParams>(Decode));
        int offset = 0, n = outputShape[0];
        for (int l = 0; l < inputs.Length; l++)
        {
            int[] s = inputShapes[l];
            var p = new SsdDecodeIlgpuParams
            {
                Cells = s[1] * s[2],
                Channels = s[3],
                PerCell = _op.AnchorsPerCell(s[3]),
                Offset = offset,
                Boxes = _op.Boxes,
                Classes = _op.Classes,
                ScoreClass = _op.ScoreClass,
                CenterScale = (float)(1 / _op.CenterScale),
                SizeScale = (float)(1 / _op.SizeScale),
            };
            kernel(IlgpuLaunch.Count((long)n * p.Cells * p.PerCell), inputs[l], _anchors.View, output, p);
            offset += p.Cells * p.PerCell;
        }
    }

    private static void Decode(Index1D index, ArrayView<float> x, ArrayView<float> anchors, ArrayView<float> y,
        SsdDecodeIlgpuParams p)
    {
        int i = index;
        int j = i % p.PerCell, cell = i / p.PerCell % p.Cells, b = i / p.PerCell / p.Cells;
        long t = ((long)b * p.Cells + cell) * p.Channels;
        int box = p.Offset + cell * p.PerCell + j;
        float ay0 = anchors[box * 4], ax0 = anchors[box * 4 + 1];
        float ah = anchors[box * 4 + 2] - ay0, aw = anchors[box * 4 + 3] - ax0;
        float cy = ay0 + ah / 2 + x[t + j * 4] * p.CenterScale * ah;
        float cx = ax0 + aw / 2 + x[t + j * 4 + 1] * p.CenterScale * aw;
        float hh = XMath.Exp(x[t + j * 4 + 2] * p.SizeScale) * ah * 0.5f;
        float hw = XMath.Exp(x[t + j * 4 + 3] * p.SizeScale) * aw * 0.5f;
        float logit = x[t + 4 * p.PerCell + j * p.Classes + p.ScoreClass];
        long o = ((long)b * p.Boxes + box) * 5;
        y[o] = cx - hw; y[o + 1] = cy - hh; y[o + 2] = cx + hw; y[o + 3] = cy + hh;
        y[o + 4] = 1f / (1f + XMath.Exp(-logit));
    }

    public void Dispose() => _anchors.Dispose();
}

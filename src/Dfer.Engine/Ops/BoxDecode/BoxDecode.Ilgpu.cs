using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.BoxDecode;

/// <summary>Box decoding on ILGPU: one thread per (image, cell, anchor) box.</summary>
public sealed class BoxDecodeIlgpu : IIlgpuKernel
{
    private readonly BoxDecodeOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _anchors;

    public BoxDecodeIlgpu(IlgpuDevice device, BoxDecodeOp op)
    {
        _op = op;
        _anchors = device.Upload(op.AnchorWidths.Concat(op.AnchorHeights).ToArray());
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var kernel = device.Kernel(Decode, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int>(Decode));
        kernel(IlgpuLaunch.Count(output.Length / 5), inputs[0], _anchors.View, output, x[1], x[2], _op.Anchors);
    }

    private static void Decode(Index1D index, ArrayView<float> t, ArrayView<float> anchors, ArrayView<float> y, int gh,
        int gw, int a)
    {
        int k = index % a;
        int cell = index / a;
        int c = cell % gw, r = cell / gw % gh;
        long i = (long)(int)index * 5;
        float cx = (c + 1f / (1f + XMath.Exp(-t[i]))) / gw, cy = (r + 1f / (1f + XMath.Exp(-t[i + 1]))) / gh;
        float w = XMath.Exp(t[i + 2]) * anchors[k] / gw, h = XMath.Exp(t[i + 3]) * anchors[a + k] / gh;
        float x0 = cx - w / 2, y0 = cy - h / 2;
        y[i] = x0; y[i + 1] = y0; y[i + 2] = x0 + w; y[i + 3] = y0 + h; y[i + 4] = 1f / (1f + XMath.Exp(-t[i + 4]));
    }

    public void Dispose() => _anchors.Dispose();
}

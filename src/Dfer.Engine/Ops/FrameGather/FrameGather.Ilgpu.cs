using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.FrameGather;

/// <summary>The gather on ILGPU, one thread per output value; fixed indices are uploaded once as a [K] row that every
/// clip shares.</summary>
public sealed class FrameGatherIlgpu : IIlgpuKernel
{
    private readonly FrameGatherOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _fixed;

    public FrameGatherIlgpu(IlgpuDevice device, FrameGatherOp op)
    {
        _op = op;
        if (op.Fixed is { } f) _fixed = device.Upload(f.Select(i => (float)i).ToArray());
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        int k = _op.Fixed?.Length ?? inputShapes[1][1];
        var kernel = device.Kernel(Gather, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(Gather));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _fixed?.View ?? inputs[1], output, x[1], x[2],
            x[3] * x[4], k, _fixed is null ? 0 : 1, 0);
    }

    private static void Gather(Index1D index, ArrayView<float> x, ArrayView<float> indices, ArrayView<float> y,
        int t, int c, int plane, int k, int shared, int unused)
    {
        long i = index;
        int ch = (int)(i % c);
        long pixel = i / c;
        long p = pixel % plane, frame = pixel / plane;
        float at = indices[shared != 0 ? frame % k : frame];
        if (!(at >= 0f && at < t))
        {
            y[index] = 0f;
            return;
        }
        long source = frame / k * t + (int)at;
        y[index] = x[(source * c + ch) * plane + p];
    }

    public void Dispose() => _fixed?.Dispose();
}

using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.TemporalShift;

/// <summary>The temporal shift on ILGPU: one thread per output value, which reads its source frame's value or writes
/// zero.</summary>
public sealed class TemporalShiftIlgpu(TemporalShiftOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] shape = inputShapes[0];
        int c = shape[^1];
        long perFrame = output.Length / shape[0];
        var kernel = device.Kernel(Shift, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, long, int, int, int>(Shift));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, perFrame, c, op.Fold(c), op.Group);
    }

    private static void Shift(Index1D index, ArrayView<float> x, ArrayView<float> y, long perFrame, int c, int fold,
        int group)
    {
        long i = index;
        long n = i / perFrame;
        int ch = (int)(i % c), t = (int)(n % group);
        int delta = ch < fold ? 1 : ch < 2 * fold ? -1 : 0;
        y[index] = t + delta >= 0 && t + delta < group ? x[i + delta * perFrame] : 0f;
    }

    public void Dispose() { }
}

using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Slice;

/// <summary>Slice on ILGPU: one thread per output value, which gathers its input value.</summary>
public sealed class SliceIlgpu(SliceOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var (_, extent, inner) = op.Split(inputShapes[0]);
        var kernel = device.Kernel(Gather, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, long, long, long>(Gather));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, op.Length * inner, extent * inner,
            op.Start * inner);
    }

    /// <summary>Output value i sits at offset i % run of run i / run; that run starts at (i / run)·srcStride + offset
    /// in the input.</summary>
    private static void Gather(Index1D index, ArrayView<float> x, ArrayView<float> y, long run, long srcStride,
        long offset)
    {
        long i = index;
        long q = i / run;
        y[index] = x[q * srcStride + offset + (i - q * run)];
    }

    public void Dispose() { }
}

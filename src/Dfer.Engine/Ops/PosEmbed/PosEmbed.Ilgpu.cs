using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.PosEmbed;

/// <summary>The positional add on ILGPU: the table on the device once; one thread per output value, which adds its
/// table value.</summary>
public sealed class PosEmbedIlgpu : IIlgpuKernel
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _table;

    public PosEmbedIlgpu(IlgpuDevice device, PosEmbedOp op) => _table = device.Upload(op.Table);

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var kernel = device.Kernel(AddTable, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, long>(AddTable));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _table.View, output, (long)x[1] * x[2]);
    }

    /// <summary>Output value i: its offset within its batch item, i mod L·D, is also its offset in the row-major
    /// table, whose first L rows are the L·D values read.</summary>
    private static void AddTable(Index1D index, ArrayView<float> x, ArrayView<float> table, ArrayView<float> y,
        long body)
    {
        long i = index;
        y[index] = x[index] + table[i % body];
    }

    public void Dispose() => _table.Dispose();
}

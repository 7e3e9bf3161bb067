using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Slice;

/// <summary>
/// Slice on the CPU: the output is <c>outer</c> contiguous runs of <c>Length·inner</c> values, each
/// a contiguous run of the input; runs are cut into pieces so a batch of one still keeps every core busy.
/// </summary>
public sealed unsafe class SliceCpu(SliceOp op) : ICpuKernel
{
    /// <summary>Values per work item at most.</summary>
    internal const long Piece = 1 << 15;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "slice");
        var (outer, extent, inner) = op.Split(x.Shape);
        long run = op.Length * inner;
        if (output.ElementCount != outer * run)
            throw new ArgumentException($"slice: output has {output.ElementCount} values, expected {outer * run}");
        long pieces = (run + Piece - 1) / Piece;
        var work = new Work(x.Data + op.Start * inner, output.Data, extent * inner, run, pieces);
        long items = outer * pieces;
        if (items > int.MaxValue) throw new ArgumentException($"slice: {items} work items is too many");
        ctx.Pool.Run(work, (int)items);
    }

    /// <summary>Copies piece <c>item % pieces</c> of run <c>item / pieces</c>: runs start at <c>src + q·srcStride</c>
    /// in the input (src is the first kept value) and at <c>dst + q·run</c> in the output.</summary>
    private sealed class Work(float* src, float* dst, long srcStride, long run, long pieces) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            long q = item / pieces, start = item % pieces * Piece;
            long n = Math.Min(Piece, run - start);
            Buffer.MemoryCopy(src + q * srcStride + start, dst + q * run + start, n * sizeof(float), n * sizeof(float));
        }
    }
}

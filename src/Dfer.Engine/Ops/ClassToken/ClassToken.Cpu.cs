using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.ClassToken;

/// <summary>
/// Class token on the CPU: per batch item the token row, then the N·C input values as one
/// contiguous copy, cut into pieces so that a batch of one still keeps every core busy.
/// </summary>
public sealed unsafe class ClassTokenCpu(ClassTokenOp op) : ICpuKernel
{
    /// <summary>Values per work item at most.</summary>
    internal const long Piece = 1 << 15;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "classtoken");
        int[] ys = op.OutputShape(new[] { x.Shape });
        if (!output.Shape.SequenceEqual(ys))
            throw new ArgumentException(
                $"classtoken: output is {Tensor.FormatShape(output.Shape)}, expected {Tensor.FormatShape(ys)}");
        long body = (long)x.Shape[1] * op.Channels;
        // Item 0 of each batch item also writes the token row.
        long pieces = (body + Piece - 1) / Piece;
        long items = x.Shape[0] * pieces;
        if (items > int.MaxValue) throw new ArgumentException($"classtoken: {items} work items is too many");
        ctx.Pool.Run(new Work(op.Token, x.Data, output.Data, body, pieces), (int)items);
    }

    private sealed class Work(float[] token, float* x, float* y, long body, long pieces) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            long b = item / pieces, start = item % pieces * Piece;
            int c = token.Length;
            float* dst = y + b * (body + c);
            if (start == 0) token.AsSpan().CopyTo(new Span<float>(dst, c));
            long n = Math.Min(Piece, body - start);
            Buffer.MemoryCopy(x + b * body + start, dst + c + start, n * sizeof(float), n * sizeof(float));
        }
    }
}

using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.PosEmbed;

/// <summary>
/// The positional add on the CPU: per batch item, its L·D values plus the table's first L·D values (the same
/// contiguous run for every item), vectorised; cut into pieces per batch item so that a batch of one still keeps
/// every core busy, and run inline when the whole tensor is small.
/// </summary>
public sealed unsafe class PosEmbedCpu(PosEmbedOp op) : ICpuKernel
{
    /// <summary>Values per work item at most.</summary>
    internal const long Piece = 1 << 15;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "posembed");
        int[] ys = op.OutputShape(new[] { x.Shape });
        if (!output.Shape.SequenceEqual(ys))
            throw new ArgumentException(
                $"posembed: output is {Tensor.FormatShape(output.Shape)}, expected {Tensor.FormatShape(ys)}");
        long body = (long)x.Shape[1] * op.Dim;
        long pieces = (body + Piece - 1) / Piece;
        long items = x.Shape[0] * pieces;
        var work = new Work(op.Table, x.Data, output.Data, body, pieces);
        if (x.ElementCount <= Piece)
        {
            for (int i = 0; i < items; i++) work.Execute(i, 0);
            return;
        }
        if (items > int.MaxValue) throw new ArgumentException($"posembed: {items} work items is too many");
        ctx.Pool.Run(work, (int)items);
    }

    private sealed class Work(float[] table, float* x, float* y, long body, long pieces) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            long b = item / pieces, start = item % pieces * Piece;
            long n = Math.Min(Piece, body - start), o = b * body + start;
            fixed (float* t0 = table) Sum(x + o, t0 + start, y + o, n);
        }
    }

    private static void Sum(float* a, float* t, float* y, long n)
    {
        long i = 0;
        int vw = Vector<float>.Count;
        for (; i <= n - vw; i += vw) Vector.Store(Vector.Load(a + i) + Vector.Load(t + i), y + i);
        for (; i < n; i++) y[i] = a[i] + t[i];
    }
}

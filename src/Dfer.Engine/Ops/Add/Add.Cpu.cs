using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Add;

/// <summary>y = a + b on the CPU: the elements cut into chunks, one work item each, vectorised within a
/// chunk.</summary>
public sealed unsafe class AddCpu : ICpuKernel
{
    /// <summary>Elements per work item: large enough that claiming an item costs nothing next to it.</summary>
    internal const int Chunk = 1 << 15;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var a = CpuChecks.Dense(inputs[0]);
        var b = CpuChecks.Dense(inputs[1]);
        CpuChecks.ExpectDense(output, "add");
        long n = output.ElementCount;
        if (a.ElementCount != n || b.ElementCount != n)
            throw new ArgumentException($"add: inputs have {a.ElementCount} and {b.ElementCount} values, output {n}");
        if (n <= Chunk)
        {
            Sum(a.Data, b.Data, output.Data, n);
            return;
        }
        ctx.Pool.Run(new Work(a.Data, b.Data, output.Data, n), (int)((n + Chunk - 1) / Chunk));
    }

    private static void Sum(float* a, float* b, float* y, long n)
    {
        long i = 0;
        int vw = Vector<float>.Count;
        for (; i <= n - vw; i += vw) Vector.Store(Vector.Load(a + i) + Vector.Load(b + i), y + i);
        for (; i < n; i++) y[i] = a[i] + b[i];
    }

    private sealed class Work(float* a, float* b, float* y, long n) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            long start = (long)item * Chunk;
            Sum(a + start, b + start, y + start, Math.Min(Chunk, n - start));
        }
    }
}

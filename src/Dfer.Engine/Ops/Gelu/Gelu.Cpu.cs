using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Gelu;

/// <summary>Exact GELU on the CPU: work items are 16K-element slices of the flat tensor, each element through <see cref="ErfF.Gelu"/>.</summary>
public sealed unsafe class GeluCpu : ICpuKernel
{
    private const int Slice = 16384;
    private readonly Work _work = new();

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "gelu");
        _work.X = x; _work.Y = output; _work.Count = x.ElementCount;
        ctx.Pool.Run(_work, (int)((x.ElementCount + Slice - 1) / Slice));
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        public Tensor? X, Y;
        public long Count;

        public void Execute(int item, int thread)
        {
            float* x = X!.Data, y = Y!.Data;
            long end = Math.Min(Count, (long)(item + 1) * Slice);
            for (long i = (long)item * Slice; i < end; i++) y[i] = ErfF.Gelu(x[i]);
        }
    }
}

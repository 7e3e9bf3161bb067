using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.AddAct;

/// <summary>y = act(Σ inputs), elementwise; work items are chunks of 16K elements.</summary>
public sealed unsafe class AddActCpu(AddActOp op) : ICpuKernel
{
    private const int Chunk = 16384;
    private readonly Work _work = new(op);

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        CpuChecks.ExpectDense(output, "addact");
        for (int j = 0; j < inputs.Length; j++) _work.X[j] = CpuChecks.Dense(inputs[j]);
        _work.Y = output;
        _work.Count = output.ElementCount;
        ctx.Pool.Run(_work, (int)((_work.Count + Chunk - 1) / Chunk));
        Array.Clear(_work.X);
        _work.Y = null;
    }

    private sealed class Work(AddActOp op) : IParallelWork
    {
        public readonly Tensor?[] X = new Tensor?[AddActOp.MaxInputs];
        public Tensor? Y;
        public long Count;

        public void Execute(int item, int thread)
        {
            long i0 = (long)item * Chunk, i1 = Math.Min(Count, i0 + Chunk);
            float* y = Y!.Data;
            float* x0 = X[0]!.Data;
            for (long i = i0; i < i1; i++) y[i] = x0[i];
            for (int j = 1; j < op.Inputs; j++)
            {
                float* xj = X[j]!.Data;
                for (long i = i0; i < i1; i++) y[i] += xj[i];
            }
            if (op.Act != Activation.None)
                for (long i = i0; i < i1; i++) y[i] = ActivationMath.Apply(op.Act, y[i]);
        }
    }
}

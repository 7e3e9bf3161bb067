using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.AddAct;

/// <summary>
/// y = act(Σ inputs), elementwise; work items are chunks of 16K elements. Where <see cref="Vector256"/> is
/// accelerated (and <see cref="CpuVariants.Portable"/> is off) and the activation has a vector form
/// (<see cref="ActivationMath.HasVectorForm"/>), one pass of eight lanes: the inputs' vectors summed left to right in
/// a register and the activation applied as a select before the one store. Otherwise (and for a chunk's last
/// elements) one pass per input over the chunk, accumulating into the output, then one activation pass.
/// </summary>
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
        _work.Vector = Vector256.IsHardwareAccelerated && !ctx.Variants.Portable
            && ActivationMath.HasVectorForm(op.Act);
        ctx.Pool.Run(_work, (int)((_work.Count + Chunk - 1) / Chunk));
        Array.Clear(_work.X);
        _work.Y = null;
    }

    private sealed class Work(AddActOp op) : IParallelWork
    {
        public readonly Tensor?[] X = new Tensor?[AddActOp.MaxInputs];
        public Tensor? Y;
        public long Count;
        public bool Vector;

        public void Execute(int item, int thread)
        {
            long i0 = (long)item * Chunk, i1 = Math.Min(Count, i0 + Chunk);
            float* y = Y!.Data;
            float** x = stackalloc float*[AddActOp.MaxInputs];
            for (int j = 0; j < op.Inputs; j++) x[j] = X[j]!.Data;
            if (Vector)
                for (; i0 + 8 <= i1; i0 += 8)
                {
                    var s = Vector256.Load(x[0] + i0);
                    for (int j = 1; j < op.Inputs; j++) s += Vector256.Load(x[j] + i0);
                    ActivationMath.Apply(op.Act, s).Store(y + i0);
                }
            for (long i = i0; i < i1; i++) y[i] = x[0][i];
            for (int j = 1; j < op.Inputs; j++)
            {
                float* xj = x[j];
                for (long i = i0; i < i1; i++) y[i] += xj[i];
            }
            if (op.Act != Activation.None)
                for (long i = i0; i < i1; i++) y[i] = ActivationMath.Apply(op.Act, y[i]);
        }
    }
}

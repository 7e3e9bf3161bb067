using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Gate;

/// <summary>
/// The gate on the CPU, one sample (leading index) per work item: the sample's activated z row is computed once into a
/// scratch row when z is broadcast (then every D-row of x multiplies it), or per element otherwise. The tensors are
/// small (RDFER: [B, 16, 1024]), so plain loops suffice.
/// </summary>
public sealed unsafe class GateCpu(GateOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        var z = CpuChecks.Dense(inputs[1]);
        CpuChecks.ExpectDense(output, "gate");
        var work = new Work(op, x.Data, z.Data, output.Data, x.ElementCount / x.Shape[0], x.Shape[^1],
            GateOp.Broadcasts(x.Shape, z.Shape));
        if (x.ElementCount < (1 << 15)) for (int b = 0; b < x.Shape[0]; b++) work.Execute(b, 0);
        else ctx.Pool.Run(work, x.Shape[0]);
    }

    private sealed class Work(GateOp op, float* x, float* z, float* y, long perSample, int d, bool broadcast)
        : IParallelWork
    {
        public void Execute(int b, int thread)
        {
            long o = b * perSample;
            if (!broadcast)
            {
                for (long i = o; i < o + perSample; i++) y[i] = x[i] * ActivationMath.Apply(op.Act, z[i]);
                return;
            }
            float[] row = new float[d];
            for (int c = 0; c < d; c++) row[c] = ActivationMath.Apply(op.Act, z[(long)b * d + c]);
            for (long i = 0; i < perSample; i++) y[o + i] = x[o + i] * row[i % d];
        }
    }
}

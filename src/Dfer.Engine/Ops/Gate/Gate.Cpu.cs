using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Gate;

/// <summary>y = a·σ(b), elementwise.</summary>
public sealed unsafe class GateCpu : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var a = CpuChecks.Dense(inputs[0]);
        var b = CpuChecks.Dense(inputs[1]);
        CpuChecks.ExpectDense(output, "gate");
        long n = a.ElementCount;
        for (long i = 0; i < n; i++) output.Data[i] = a.Data[i] / (1f + MathF.Exp(-b.Data[i]));
    }
}

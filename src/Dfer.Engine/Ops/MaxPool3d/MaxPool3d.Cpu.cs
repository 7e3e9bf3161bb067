using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.MaxPool3d;

/// <summary>Channels-last max pooling on the CPU: <see cref="WindowMax3d"/> over the whole dense input.</summary>
public sealed class MaxPool3dCpu : ICpuKernel
{
    private readonly WindowMax3d _pool;

    public MaxPool3dCpu(MaxPool3dOp op) { _pool = new WindowMax3d(op.Geometry); }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "maxpool3d");
        _pool.Run(ctx, x, output);
    }
}

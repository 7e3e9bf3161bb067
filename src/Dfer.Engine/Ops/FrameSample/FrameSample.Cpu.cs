using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.FrameSample;

/// <summary>Frame sampling on the CPU: <see cref="FrameBlend"/>, one work item per (b, k) output frame.</summary>
public sealed class FrameSampleCpu(FrameSampleOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        var index = CpuChecks.Dense(inputs[1]);
        CpuChecks.ExpectDense(output, "framesample");
        FrameBlend.Run(ctx, op.Sampling, x, index, output);
    }
}

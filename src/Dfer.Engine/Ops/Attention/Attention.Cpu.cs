using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Attention;

/// <summary>Self-attention on the CPU: <see cref="SelfAttention"/>, one work item per (sample, head).</summary>
public sealed unsafe class AttentionCpu : ICpuKernel
{
    private readonly SelfAttention _attention;

    public AttentionCpu(AttentionOp op) { _attention = new SelfAttention(op.Heads, op.HeadDim, (float)op.Scale); }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        CpuChecks.ExpectDense(output, "attention");
        var x = CpuChecks.Dense(inputs[0]);
        _attention.Run(ctx, x.Data, output.Data, x.Shape[0], x.Shape[1]);
    }
}

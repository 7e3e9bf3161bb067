using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.LayerNorm;

/// <summary>LayerNorm on the CPU: <see cref="LayerNormRows"/> (two passes per row in Vector&lt;float&gt;
/// lanes).</summary>
public sealed class LayerNormCpu : ICpuKernel
{
    private readonly LayerNormRows _rows;

    public LayerNormCpu(LayerNormOp op) { _rows = new LayerNormRows(op.Weights); }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "layernorm");
        _rows.Run(ctx, x, output);
    }
}

using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Reshape;

/// <summary>
/// Reshape on the CPU. The planner aliases the output to the input's memory when both are dense,
/// in which case there is nothing to do; otherwise the elements are copied in row-major order.
/// </summary>
public sealed unsafe class ReshapeCpu : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = inputs[0];
        if (x.Storage == output.Storage && x.Offset == output.Offset && x.IsContiguous && output.IsContiguous) return;
        output.CopyFrom(x.ToArray());
    }
}

using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>
/// dwconv3d on the CPU: <see cref="DepthwiseConvolution3d"/> (vector multiply-adds over channels per tap).
/// Inputs may be strided views (halos) as long as channels are dense.
/// </summary>
public sealed class DepthwiseConv3dCpu : ICpuKernel, IDisposable
{
    private readonly DepthwiseConvolution3d _conv;

    public DepthwiseConv3dCpu(DepthwiseConv3dOp op) { _conv = new DepthwiseConvolution3d(op.Weights); }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = inputs[0];
        if (x.Strides[4] != 1) x = CpuChecks.Dense(x);
        CpuChecks.ExpectDense(output, "dwconv3d");
        _conv.Run(ctx, x, output);
    }

    public void Dispose() => _conv.Dispose();
}

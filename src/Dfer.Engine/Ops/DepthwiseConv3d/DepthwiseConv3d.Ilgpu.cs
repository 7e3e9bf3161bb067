using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;

namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>dwconv3d on ILGPU: <see cref="IlgpuDepthwiseConvolution3d"/>, one thread per output element, channel
/// fastest.</summary>
public sealed class DepthwiseConv3dIlgpu : IIlgpuKernel
{
    private readonly IlgpuDepthwiseConvolution3d _conv;

    public DepthwiseConv3dIlgpu(IlgpuDevice device,
        DepthwiseConv3dOp op)
    { _conv = new IlgpuDepthwiseConvolution3d(device, op.Weights); }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        _conv.Run(device, inputs[0], inputShapes[0], output, outputShape);

    public void Dispose() => _conv.Dispose();
}

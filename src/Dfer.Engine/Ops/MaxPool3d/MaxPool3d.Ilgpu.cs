using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;

namespace Dfer.Ops.MaxPool3d;

/// <summary>Channels-last max pooling on ILGPU: <see cref="IlgpuWindowMax3d"/>, one thread per output
/// element.</summary>
public sealed class MaxPool3dIlgpu : IIlgpuKernel
{
    private readonly MaxPool3dOp _op;

    public MaxPool3dIlgpu(MaxPool3dOp op) { _op = op; }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        IlgpuWindowMax3d.Run(device, _op.Geometry, inputs[0], inputShapes[0], output, outputShape);

    public void Dispose() { }
}

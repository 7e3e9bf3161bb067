using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;

namespace Dfer.Ops.FrameSample;

/// <summary>Frame sampling on ILGPU: <see cref="IlgpuFrameBlend"/>, one thread per output value.</summary>
public sealed class FrameSampleIlgpu(FrameSampleOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        IlgpuFrameBlend.Run(device, op.Sampling, inputs[0], inputShapes[0], inputs[1], outputShape[1], output);

    public void Dispose() { }
}

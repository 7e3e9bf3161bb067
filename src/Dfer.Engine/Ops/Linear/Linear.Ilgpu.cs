using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Linear;

/// <summary>y = x·Wᵀ + b on ILGPU: <see cref="IlgpuDenseRows"/>, one thread per output element.</summary>
public sealed class LinearIlgpu(IlgpuDevice device, LinearOp op) : IIlgpuKernel
{
    private readonly IlgpuDenseRows _rows = new(device, op.In, op.Out, op.Weight, op.Bias);

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        _rows.Run(device, inputs[0], output);

    public void Dispose() => _rows.Dispose();
}

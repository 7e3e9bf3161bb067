using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;

namespace Dfer.Ops.LayerNorm;

/// <summary>LayerNorm over the last axis on ILGPU: <see cref="IlgpuLayerNormRows"/>, one thread per row.</summary>
public sealed class LayerNormIlgpu : IIlgpuKernel
{
    private readonly IlgpuLayerNormRows _rows;

    public LayerNormIlgpu(IlgpuDevice device, LayerNormOp op) { _rows = new IlgpuLayerNormRows(device, op.Weights); }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        _rows.Run(device, inputs[0], output);

    public void Dispose() => _rows.Dispose();
}

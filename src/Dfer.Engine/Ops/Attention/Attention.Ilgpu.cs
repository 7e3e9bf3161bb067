using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Attention;

/// <summary>Multi-head self-attention over a packed [B, L, 3·D] q|k|v input on ILGPU:
/// <see cref="IlgpuSelfAttention"/>.</summary>
public sealed class AttentionIlgpu(AttentionOp op) : IIlgpuKernel
{
    private readonly IlgpuSelfAttention _attention = new(op.Heads, op.HeadDim, (float)op.Scale);

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape) =>
        _attention.Run(device, inputs[0], output, inputShapes[0][0], inputShapes[0][1]);

    public void Dispose() => _attention.Dispose();
}

using Dfer.Onnx;
using Dfer.Primitives;

namespace Dfer.Ops.LayerNorm;

/// <summary>
/// layernorm in ONNX: one LayerNormalization over the last axis (axis −1, biased variance, the op's epsilon,
/// its weight as Scale and bias as B), the op opset 17 introduced.
/// </summary>
internal sealed class LayerNormOnnx(LayerNormOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        OnnxBlocks.LayerNorm(graph, op.Weights, inputs[0], output);


}

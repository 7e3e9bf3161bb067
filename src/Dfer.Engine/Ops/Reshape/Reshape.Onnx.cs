using Dfer.Onnx;

namespace Dfer.Ops.Reshape;

/// <summary>reshape in ONNX: one Reshape to the op's shape (its −1 inferred the same way).</summary>
internal sealed class ReshapeOnnx(ReshapeOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        graph.Reshape(inputs[0], op.Shape, output);
}

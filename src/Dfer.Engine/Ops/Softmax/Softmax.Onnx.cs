using Dfer.Onnx;

namespace Dfer.Ops.Softmax;

/// <summary>softmax in ONNX: Softmax over the last axis (opset 13 and later normalise that one axis).</summary>
internal sealed class SoftmaxOnnx : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        graph.Node("Softmax", new[] { inputs[0] }, new[] { output }, OnnxAttribute.Int("axis", -1));
}

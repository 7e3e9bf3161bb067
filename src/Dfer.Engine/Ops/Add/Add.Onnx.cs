using Dfer.Onnx;

namespace Dfer.Ops.Add;

/// <summary>add in ONNX: one Add of the two equal-shaped inputs.</summary>
internal sealed class AddOnnx : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        graph.Node("Add", new[] { inputs[0], inputs[1] }, new[] { output });
}

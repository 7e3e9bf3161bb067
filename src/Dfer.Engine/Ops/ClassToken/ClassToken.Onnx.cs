using Dfer.Onnx;

namespace Dfer.Ops.ClassToken;

/// <summary>
/// classtoken in ONNX: the token [1, 1, C] expanded to [B, 1, C] (B read from the input's Shape, so a
/// dynamic batch works) and concatenated before the input's rows on axis 1.
/// </summary>
internal sealed class ClassTokenOnnx(ClassTokenOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = inputs[0];
        string batch = graph.Node("Shape", "batch", new[] { x }, OnnxAttribute.Int("start", 0),
            OnnxAttribute.Int("end", 1));
        string shape = graph.Node("Concat", "token_shape", new[] { batch, graph.Int64s("row", 1, op.Channels) },
            OnnxAttribute.Int("axis", 0));
        string token = graph.Floats("token", op.Token, 1, 1, op.Channels);
        string tokens = graph.Node("Expand", "tokens", new[] { token, shape });
        graph.Node("Concat", new[] { tokens, x }, new[] { output }, OnnxAttribute.Int("axis", 1));
    }
}

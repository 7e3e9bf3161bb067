using Dfer.Onnx;

namespace Dfer.Ops.Permute;

/// <summary>permute in ONNX: Reshape to the view, Transpose by the axes, Reshape to the output shape.</summary>
internal sealed class PermuteOnnx(PermuteOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string view = graph.Value("view");
        graph.Reshape(inputs[0], op.ViewShape, view);
        string permuted = graph.Node("Transpose", "permuted", new[] { view },
            OnnxAttribute.Ints("perm", op.Axes.Select(a => (long)a).ToArray()));
        graph.Reshape(permuted, op.OutShape, output);
    }
}

using Dfer.Onnx;

namespace Dfer.Ops.Gate;

/// <summary>
/// gate in ONNX: <c>x · act(z)</c> by Mul, after z is reshaped to <c>[z₀] + [1]·(rank x − rank z) + z[1:]</c>
/// from the shapes at run time (the op does not know them): x's shape itself when z has it, and
/// <c>[B, 1, …, 1, D]</c> when z is <c>[B, D]</c> for x <c>[B, …, D]</c>, so that ONNX's broadcasting (aligned on
/// the last axis) repeats z over x's middle axes as the op does.
/// </summary>
internal sealed class GateOnnx(GateOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = inputs[0], z = inputs[1];
        string extra = graph.Node("Sub", "extra_axes",
            new[] { graph.ShapeOf(graph.ShapeOf(x)), graph.ShapeOf(graph.ShapeOf(z)) });
        string ones = graph.Node("Expand", "ones", new[] { graph.Int64s("one", 1), extra });
        string shape = graph.Node("Concat", "z_shape",
            new[] { graph.ShapeOf(z, 0, 1), ones, graph.ShapeOf(z, 1) }, OnnxAttribute.Int("axis", 0));
        string gate = graph.Value("gate");
        graph.Activate(op.Act, graph.ReshapeTo(z, shape, "z_view"), gate);
        graph.Node("Mul", new[] { x, gate }, new[] { output });
    }
}

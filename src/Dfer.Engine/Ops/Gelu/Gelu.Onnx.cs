using Dfer.Onnx;

namespace Dfer.Ops.Gelu;

/// <summary>
/// gelu in ONNX, the exact (erf) form the op computes: <c>0.5 · x · (1 + Erf(x · (1/√2)))</c> with the
/// standard Erf op (ONNX's own Gelu arrives only at opset 20).
/// </summary>
internal sealed class GeluOnnx : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = inputs[0];
        string invSqrt2 = graph.Scalar("inv_sqrt2", (float)(1 / Math.Sqrt(2)));
        string scaled = graph.Node("Mul", "x_over_sqrt2", new[] { x, invSqrt2 });
        string erf = graph.Node("Erf", "erf", new[] { scaled });
        string onePlus = graph.Node("Add", "one_plus_erf", new[] { erf, graph.Scalar("one", 1f) });
        string half = graph.Node("Mul", "half_x", new[] { x, graph.Scalar("half", 0.5f) });
        graph.Node("Mul", new[] { half, onePlus }, new[] { output });
    }
}

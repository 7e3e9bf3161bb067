using Dfer.Onnx;
using Dfer.Primitives;

namespace Dfer.Ops.Linear;

/// <summary>
/// linear in ONNX: MatMul by Wᵀ [In, Out] (W transposed once, at export; MatMul broadcasts over the leading
/// axes) and, where the op has one, Add of the bias [Out].
/// </summary>
internal sealed class LinearOnnx(LinearOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        Project(graph, op.Weights, inputs[0], output);

    /// <summary>Writes <c>input · Wᵀ + bias</c> of <paramref name="weights"/> into <paramref name="output"/>; the
    /// lifting op's projections use it too.</summary>
    public static void Project(OnnxGraphBuilder graph, LinearWeights weights, string input, string output)
    {
        int n = weights.In, m = weights.Out;
        var wt = new float[(long)n * m];
        for (int o = 0; o < m; o++)
            for (int i = 0; i < n; i++) wt[(long)i * m + o] = weights.Weight[(long)o * n + i];
        string w = graph.Floats("weight_t", wt, n, m);
        if (weights.Bias is null)
        {
            graph.Node("MatMul", new[] { input, w }, new[] { output });
            return;
        }
        string product = graph.Node("MatMul", "matmul", new[] { input, w });
        graph.Node("Add", new[] { product, graph.Floats("bias", weights.Bias, m) }, new[] { output });
    }

    /// <summary><see cref="Project(OnnxGraphBuilder, LinearWeights, string, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string Project(OnnxGraphBuilder graph, string local, LinearWeights weights, string input)
    {
        string output = graph.Value(local);
        Project(graph, weights, input, output);
        return output;
    }
}
